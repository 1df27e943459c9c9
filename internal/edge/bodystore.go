package edge

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
)

// bodyStore holds the request bodies the edge reads in full before it
// passes a request on, as nginx does by default (client_body_buffer_size,
// client_body_temp_path): a slow client then costs the edge a buffer, not
// the app a worker. A body is kept in memory up to perBody bytes (and
// while all bodies in memory stay within the memory budget), otherwise in
// a temp file in dir (while all bodies on disk stay within the disk
// budget).
//
// A temp file is removed as soon as it is created, before anything is
// written to it; only its descriptor keeps it, so it is gone when the
// request ends, however it ends, and a crash leaves no body behind.
type bodyStore struct {
	perBody int64
	memory  budget
	disk    budget
	dir     string
	// createTemp makes an anonymous temp file in dir; tests replace it to
	// meet a full disk.
	createTemp func(dir string) (*os.File, error)
	copyBufs   *bufferPool
	pools      [maxMemClass - minMemClass + 1]sync.Pool // *[]byte of 1<<class bytes

	spilled atomic.Uint64 // bodies that went to a temp file
	refused atomic.Uint64 // bodies there was no room for
}

// BodyStats tells how the edge holds request bodies, for metrics.
type BodyStats struct {
	// Memory and Disk are the bytes held now in memory buffers and in
	// temp files.
	Memory, Disk int64
	// Spilled counts the bodies that went to a temp file (larger than
	// Options.BodyBuffer, or memory was short).
	Spilled uint64
	// Refused counts the requests answered 507: no room for the body.
	Refused uint64
}

func (st *bodyStore) stats() BodyStats {
	return BodyStats{Memory: st.memory.used.Load(), Disk: st.disk.used.Load(), Spilled: st.spilled.Load(), Refused: st.refused.Load()}
}

// Memory buffers come in powers of two, from 512 bytes to 64 MiB.
const (
	minMemClass = 9
	maxMemClass = 26
	// MaxBodyBuffer is the most Options.BodyBuffer may be.
	MaxBodyBuffer = 1 << maxMemClass
)

// tempPattern names the temp files, for os.CreateTemp.
const tempPattern = "body-*"

func newBodyStore(o *Options, copyBufs *bufferPool) *bodyStore {
	return &bodyStore{
		perBody:    o.BodyBuffer,
		memory:     budget{limit: o.BodyMemory},
		disk:       budget{limit: o.BodyDisk},
		dir:        o.BodyTempDir,
		createTemp: anonymousTemp,
		copyBufs:   copyBufs,
	}
}

// prepare makes the temp directory. Nothing is cleaned up in it: a file
// is removed before anything is written to it, so a crash leaves at most
// an empty one, and the directory may be shared.
func (st *bodyStore) prepare() error {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return fmt.Errorf("prepare body temp dir: %w", err)
	}
	return nil
}

// anonymousTemp creates a temp file in dir and removes its name.
func anonymousTemp(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// read reads src, a body of declared bytes (-1 if unknown), to its end.
// The body returned must be released when the request ends. Errors are
// src's (a *clientBodyError) or a *bodyStoreError.
func (st *bodyStore) read(src io.Reader, declared int64) (*bufferedBody, error) {
	b := &bufferedBody{st: st}
	b.first.b = b
	if declared <= st.perBody {
		done, err := b.readMemory(src, declared)
		if err != nil {
			b.release()
			return nil, err
		}
		if done {
			return b, nil
		}
	}
	st.spilled.Add(1)
	if err := b.spill(src); err != nil {
		b.release()
		if _, ok := err.(*bodyStoreError); ok {
			st.refused.Add(1)
		}
		return nil, err
	}
	return b, nil
}

// getMem takes a buffer of at least n bytes (n <= MaxBodyBuffer) from the
// pools, within the memory budget; nil if the budget is spent.
func (st *bodyStore) getMem(n int64) (*[]byte, int) {
	class := max(minMemClass, bits.Len64(uint64(n-1)))
	if !st.memory.take(1 << class) {
		return nil, 0
	}
	if p, ok := st.pools[class-minMemClass].Get().(*[]byte); ok {
		return p, class
	}
	b := make([]byte, 1<<class)
	return &b, class
}

// putMem returns a buffer taken with getMem.
func (st *bodyStore) putMem(p *[]byte, class int) {
	st.pools[class-minMemClass].Put(p)
	st.memory.give(1 << class)
}

// budget is a number of bytes shared by every request.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes; false if that would go past the limit.
func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes taken.
func (b *budget) give(n int64) { b.used.Add(-n) }

// errDiskBudget is the disk budget for bodies spent.
var errDiskBudget = errors.New("request bodies on disk are at their limit (edge.limits.body_disk)")

// bodyStoreError is the edge's failure to hold a request body: its disk
// budget spent, the disk full, the temp directory unusable. The edge
// answers 507.
type bodyStoreError struct {
	op  string
	err error
}

func (e *bodyStoreError) Error() string {
	return "buffer request body: " + e.op + ": " + e.err.Error()
}

func (e *bodyStoreError) Unwrap() error { return e.err }
