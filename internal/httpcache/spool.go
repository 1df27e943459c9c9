package httpcache

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
)

// Spool tuning.
const (
	chunkSize    = 64 << 10 // size of memory chunks after the first
	streamWindow = 1 << 20  // how far the fetch may run ahead of the slowest reader when not storing
)

var (
	// errAbandoned stops a fetch that nobody reads and nothing stores.
	errAbandoned = errors.New("response abandoned")
	// errTrimmed means a reader fell behind data already discarded.
	errTrimmed = errors.New("spool data discarded")
)

// spool is the body of a response while it is fetched: one writer (the
// fetch) and any number of readers (the clients it was coalesced for).
// Readers are streamed the bytes as they arrive.
//
// In retain mode every byte is kept, in memory or, past the memory
// threshold, in a disk file only, so that the response can be stored.
// Otherwise the spool is a bounded pipe: bytes all readers have passed
// are dropped, and the writer waits while it is more than streamWindow
// ahead of the slowest reader; with no reader left it is told to stop.
type spool struct {
	mu       sync.Mutex // guards the fields below
	chunks   [][]byte   // memory bytes covering [base, size)
	base     int64
	size     int64 // bytes written in total
	done     bool
	err      error // the fetch failed: readers abort
	retain   bool
	file     *os.File // holds bytes [0, fileEnd) when non-nil
	fileEnd  int64
	fileRefs int // readers and writer holding file open
	readers  map[*spoolReader]struct{}
	wake     chan struct{} // closed and replaced on every change
}

func newSpool() *spool {
	return &spool{readers: map[*spoolReader]struct{}{}, wake: make(chan struct{}), fileRefs: 1}
}

// broadcastLocked wakes everyone waiting on the spool.
func (s *spool) broadcastLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// setRetain switches retain mode; turning it off starts trimming.
func (s *spool) setRetain(on bool) {
	s.mu.Lock()
	s.retain = on
	s.trimLocked()
	s.broadcastLocked()
	s.mu.Unlock()
}

// retaining reports whether every byte is still kept.
func (s *spool) retaining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retain
}

// useFile moves the spool's bytes into f (a new temp file) and makes it
// the place later bytes go. The memory chunks are released.
func (s *spool) useFile(f *os.File) error {
	s.mu.Lock()
	chunks := s.chunks
	s.mu.Unlock()
	// Only the writer appends, and it is the caller: chunks are stable.
	for _, c := range chunks {
		if _, err := f.Write(c); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.file, s.fileEnd = f, s.size
	s.chunks, s.base = nil, s.size
	for r := range s.readers {
		if !r.file {
			r.file = true
			s.fileRefs++
		}
	}
	s.mu.Unlock()
	return nil
}

// write appends p. It blocks for back-pressure when not retaining, and
// fails with errAbandoned when nobody needs the bytes any more. When the
// file fails, the bytes go to memory and retaining stops; the returned
// *diskError says so after all of p was written.
func (s *spool) write(ctx context.Context, p []byte) (err error) {
	var diskErr error // reported once all of p is written
	defer func() {
		if err == nil {
			err = diskErr
		}
	}()
	for len(p) > 0 {
		s.mu.Lock()
		for !s.retain && len(s.readers) > 0 && s.size-s.minReaderLocked() >= streamWindow {
			wake := s.wake
			s.mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
				return ctx.Err()
			}
			s.mu.Lock()
		}
		if !s.retain && len(s.readers) == 0 {
			s.mu.Unlock()
			return errAbandoned
		}
		toFile := s.file != nil && s.base == s.fileEnd && s.retain
		var last []byte
		if n := len(s.chunks); n > 0 {
			last = s.chunks[n-1]
		}
		s.mu.Unlock()

		if toFile {
			n, err := s.file.Write(p)
			s.mu.Lock()
			s.size += int64(n)
			s.fileEnd, s.base = s.size, s.size
			if err != nil {
				// Go on in memory, without retaining: readers behind
				// read the file, later bytes come from chunks.
				s.retain = false
				diskErr = &diskError{op: "write spool file", err: err}
			}
			s.broadcastLocked()
			s.mu.Unlock()
			p = p[n:]
			continue
		}
		// Fill the spare capacity of the last chunk, or start a new one.
		// Readers never look past size, so this copy needs no lock.
		var c []byte
		if last != nil && len(last) < cap(last) {
			c = last[len(last):min(cap(last), len(last)+len(p))]
		} else {
			c = make([]byte, min(len(p), chunkSize), chunkSize)
		}
		n := copy(c, p)
		p = p[n:]
		s.mu.Lock()
		if last != nil && len(last) < cap(last) {
			s.chunks[len(s.chunks)-1] = last[:len(last)+n]
		} else {
			s.chunks = append(s.chunks, c[:n])
		}
		s.size += int64(n)
		s.broadcastLocked()
		s.mu.Unlock()
	}
	return nil
}

// reserve sizes the first chunk when the length is known, so that a
// small body lands in one allocation.
func (s *spool) reserve(n int64) {
	if n <= 0 || n > 4*chunkSize {
		return
	}
	s.mu.Lock()
	if len(s.chunks) == 0 && s.size == 0 {
		s.chunks = append(s.chunks, make([]byte, 0, n))
	}
	s.mu.Unlock()
}

// finish ends writing; err non-nil marks the body as broken.
func (s *spool) finish(err error) {
	s.mu.Lock()
	s.done = true
	s.err = err
	s.broadcastLocked()
	s.mu.Unlock()
	s.release()
}

// release drops one holder of the file; the last one closes it.
func (s *spool) release() {
	s.mu.Lock()
	s.fileRefs--
	var f *os.File
	if s.fileRefs == 0 {
		f, s.file = s.file, nil
	}
	s.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// detachFile hands the file to the store: the spool no longer closes it.
func (s *spool) detachFile() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.file
	s.fileRefs++ // the store's reference, released by the store
	return f
}

// memoryBody returns the retained bytes when they are all in memory.
func (s *spool) memoryBody() (chunks [][]byte, size int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retain || s.file != nil || s.base != 0 {
		return nil, 0, false
	}
	return s.chunks, s.size, true
}

func (s *spool) minReaderLocked() int64 {
	m := s.size
	for r := range s.readers {
		m = min(m, r.off)
	}
	return m
}

// trimLocked drops memory chunks that every reader has passed.
func (s *spool) trimLocked() {
	if s.retain {
		return
	}
	low := s.minReaderLocked()
	for len(s.chunks) > 0 && s.base+int64(len(s.chunks[0])) <= low && len(s.chunks[0]) == cap(s.chunks[0]) {
		s.base += int64(len(s.chunks[0]))
		s.chunks = s.chunks[1:]
	}
}

// newReader registers a reader at offset 0. It fails once bytes have
// been dropped.
func (s *spool) newReader() (*spoolReader, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retain && s.size > 0 {
		return nil, false
	}
	r := &spoolReader{s: s}
	s.readers[r] = struct{}{}
	if s.file != nil {
		s.fileRefs++
		r.file = true
	}
	return r, true
}

// spoolReader reads a spool from the start; close it when done.
type spoolReader struct {
	s      *spool
	off    int64 // guarded by s.mu while registered
	file   bool  // holds a file reference
	buf    []byte
	closed bool
}

// next returns the next bytes, waiting for them; io.EOF at the end. The
// slice is valid until the following call.
func (r *spoolReader) next(ctx context.Context) ([]byte, error) {
	s := r.s
	s.mu.Lock()
	for r.off >= s.size && !s.done {
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	if r.off >= s.size {
		s.mu.Unlock()
		return nil, io.EOF
	}
	off := r.off
	if off >= s.base {
		i, at := s.base, 0
		for ; at < len(s.chunks) && i+int64(len(s.chunks[at])) <= off; at++ {
			i += int64(len(s.chunks[at]))
		}
		b := s.chunks[at][off-i:]
		r.off += int64(len(b))
		if !s.retain {
			s.trimLocked()
			s.broadcastLocked() // the writer may wait for this reader
		}
		s.mu.Unlock()
		return b, nil
	}
	f, end := s.file, s.fileEnd
	s.mu.Unlock()
	if f == nil || off >= end {
		return nil, errTrimmed
	}
	if r.buf == nil {
		r.buf = make([]byte, 32<<10)
	}
	n, err := f.ReadAt(r.buf[:min(int64(len(r.buf)), end-off)], off)
	if n == 0 && err != nil {
		return nil, err
	}
	s.mu.Lock()
	r.off += int64(n)
	if !s.retain {
		s.broadcastLocked()
	}
	s.mu.Unlock()
	return r.buf[:n], nil
}

// wait blocks until the spool is complete; it returns the fetch error.
func (r *spoolReader) wait(ctx context.Context) error {
	s := r.s
	s.mu.Lock()
	for !s.done {
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	err := s.err
	s.mu.Unlock()
	return err
}

// close unregisters the reader.
func (r *spoolReader) close() {
	if r.closed {
		return
	}
	r.closed = true
	s := r.s
	s.mu.Lock()
	delete(s.readers, r)
	s.trimLocked()
	s.broadcastLocked()
	s.mu.Unlock()
	if r.file {
		s.release()
	}
}

// available reports whether more bytes can be read without waiting.
func (r *spoolReader) available() bool {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.off < s.size || s.done
}
