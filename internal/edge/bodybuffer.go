package edge

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
)

// bufferedBody is a request body a bodyStore read in full: in memory or
// in an anonymous temp file. Each of its readers (the request's Body, and
// one per GetBody call, for a retry) reads it from the start on its own.
//
// It is released when the request ends: its memory goes back to the pool
// and its file is closed (which frees the disk). A reader still reading
// then — a transport's writer that outlived the request — gets
// errBodyReleased, never another request's bytes.
type bufferedBody struct {
	st    *bodyStore
	first bodyReader // the request's Body; saves an allocation

	// Readers hold mu shared while they read the memory or the file;
	// release holds it exclusively.
	mu       sync.RWMutex
	released bool
	mem      *[]byte // the body, in mem[:size]; nil when on disk or empty
	class    int     // mem's size class
	file     *os.File
	size     int64
	onDisk   int64   // bytes taken from the disk budget
	probe    [1]byte // a byte read past a full memory buffer
	probed   bool
}

// errBodyReleased is read from a buffered body after its request ended.
var errBodyReleased = errors.New("request body read after its request ended")

// firstGuess is the memory taken first for a body of unknown length.
const firstGuess = 4 << 10

// readMemory reads src into memory while the body fits; done reports that
// src ended. When it does not fit, what was read stays in memory for
// spill.
func (b *bufferedBody) readMemory(src io.Reader, declared int64) (done bool, err error) {
	want := declared
	if want < 0 {
		want = firstGuess
	}
	if !b.growMem(max(min(want, b.st.perBody), 1)) {
		return false, nil
	}
	for {
		buf := *b.mem
		limit := min(int64(len(buf)), b.st.perBody)
		for b.size < limit {
			n, err := src.Read(buf[b.size:limit])
			b.size += int64(n)
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
		}
		if limit == b.st.perBody || b.size == declared {
			// Full, or all that was declared is in: the body must end here.
			return b.probeEnd(src)
		}
		if !b.growMem(min(2*int64(len(buf)), b.st.perBody)) {
			return false, nil
		}
	}
}

// probeEnd reads one byte past a full buffer to tell whether the body
// ends there.
func (b *bufferedBody) probeEnd(src io.Reader) (done bool, err error) {
	for {
		n, err := src.Read(b.probe[:])
		if n == 1 {
			b.probed = true
			return false, nil
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// growMem moves the body to a memory buffer of at least n bytes; false
// if the memory budget is spent.
func (b *bufferedBody) growMem(n int64) bool {
	p, class := b.st.getMem(n)
	if p == nil {
		return false
	}
	if b.mem != nil {
		copy(*p, (*b.mem)[:b.size])
		b.st.putMem(b.mem, b.class)
	}
	b.mem, b.class = p, class
	return true
}

// spill moves what was read to a temp file and reads the rest of src
// into it.
func (b *bufferedBody) spill(src io.Reader) error {
	f, err := b.st.createTemp(b.st.dir)
	if err != nil {
		return &bodyStoreError{op: "create temp file", err: err}
	}
	b.file = f
	if b.mem != nil {
		err := b.write((*b.mem)[:b.size])
		b.st.putMem(b.mem, b.class)
		b.mem = nil
		if err != nil {
			return err
		}
	}
	if b.probed {
		if err := b.write(b.probe[:]); err != nil {
			return err
		}
		b.size++
	}
	buf := b.st.copyBufs.Get()
	defer b.st.copyBufs.Put(buf)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := b.write(buf[:n]); err != nil {
				return err
			}
			b.size += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// write appends p to the temp file, within the disk budget.
func (b *bufferedBody) write(p []byte) error {
	if !b.st.disk.take(int64(len(p))) {
		return &bodyStoreError{op: "write temp file", err: errDiskBudget}
	}
	b.onDisk += int64(len(p))
	if _, err := b.file.Write(p); err != nil {
		return &bodyStoreError{op: "write temp file", err: err}
	}
	return nil
}

// attach makes b the body of r: with a Content-Length (also for a body
// that came chunked; its trailer fields, rare in requests, are not
// passed on), a GetBody that reads it again from the start, and no
// Expect field, as the edge has answered it by reading the body.
func (b *bufferedBody) attach(r *http.Request) {
	r.ContentLength = b.size
	r.TransferEncoding, r.Trailer = nil, nil
	delete(r.Header, "Expect")
	if b.size == 0 {
		r.Body, r.GetBody = http.NoBody, nil
		return
	}
	r.Body, r.GetBody = &b.first, b.getBody
}

// getBody is the request's GetBody: a new reader from the start.
func (b *bufferedBody) getBody() (io.ReadCloser, error) {
	return &bodyReader{b: b}, nil
}

// release gives back the body's memory and file. Idempotent.
func (b *bufferedBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return
	}
	b.released = true
	if b.mem != nil {
		b.st.putMem(b.mem, b.class)
		b.mem = nil
	}
	if b.file != nil {
		_ = b.file.Close() // the file has no name: closing it frees it, nothing to keep
		b.file = nil
		b.st.disk.give(b.onDisk)
	}
}

// bodyReader reads a bufferedBody from an offset of its own. It is an
// io.ReadSeekCloser, so that a retry can rewind it.
type bodyReader struct {
	b   *bufferedBody
	off int64
}

var _ io.ReadSeekCloser = (*bodyReader)(nil)

func (r *bodyReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	switch {
	case b.released:
		return 0, errBodyReleased
	case r.off >= b.size:
		return 0, io.EOF
	case b.file == nil:
		n := copy(p, (*b.mem)[r.off:b.size])
		r.off += int64(n)
		return n, nil
	}
	p = p[:min(int64(len(p)), b.size-r.off)]
	n, err := b.file.ReadAt(p, r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && r.off < b.size {
		err = io.ErrUnexpectedEOF // the file is shorter than what was written
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read.
func (r *bodyReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.b.size
	default:
		return 0, errors.New("seek request body: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek request body: negative position")
	}
	r.off = offset
	return offset, nil
}

// Close does nothing: the body is released when its request ends.
func (r *bodyReader) Close() error { return nil }
