package httpcache

import (
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

// copyHeader sets the fields of src on dst, except the route's skipped
// fields. Value slices are shared: stored ones are clipped (clipHeader),
// so a later Add on dst reallocates instead of writing into them.
func (h *routeHandler) copyHeader(dst, src http.Header) {
	for k, v := range src {
		if !h.skip[k] {
			dst[k] = v
		}
	}
}

// copySharedHeader is copyHeader for a response the cache may share:
// clients get the route's Cache-Control, if it has one.
func (h *routeHandler) copySharedHeader(dst, src http.Header) {
	h.copyHeader(dst, src)
	if h.clientCC != nil {
		dst["Cache-Control"] = h.clientCC
	}
}

// setStatus appends this cache's member to Cache-Status.
func (h *routeHandler) setStatus(hdr http.Header, cs *cacheStatus) {
	addStatus(hdr, []string{cs.format(h.c.name)})
}

// addStatus appends the member in one (a slice of one value, clipped)
// to Cache-Status; one becomes the field's value when it is the first.
func addStatus(hdr http.Header, one []string) {
	if prev := hdr["Cache-Status"]; len(prev) > 0 {
		hdr["Cache-Status"] = append(slices.Clip(prev), one[0])
		return
	}
	hdr["Cache-Status"] = one
}

// setAgeAndStatus sets Age and appends this cache's Cache-Status member.
// Both values are cut from one string and their slices from one array:
// two allocations where formatting each apart takes four or five, on
// every hit.
func (h *routeHandler) setAgeAndStatus(hdr http.Header, age time.Duration, cs *cacheStatus) {
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], int64(max(0, age)/time.Second), 10)
	n := len(b)
	s := string(cs.appendTo(b, h.c.name))
	vals := []string{s[:n], s[n:]}
	hdr["Age"] = vals[0:1:1]
	addStatus(hdr, vals[1:2:2])
}

// serveEntry answers r from a stored response at time now. validated
// says the response was just validated with the origin, so that fields
// of a qualified no-cache may be sent. It returns false, having written
// nothing, when the body is gone (a file removed from the disk tier).
func (h *routeHandler) serveEntry(w http.ResponseWriter, r *http.Request, e *entry, cs *cacheStatus, validated bool, now time.Time) bool {
	var file *os.File
	if e.body.path != "" {
		f, err := os.Open(e.body.path)
		if err != nil {
			h.c.removeEntry(e)
			return false
		}
		defer f.Close()
		file = f
	}
	hdr := w.Header()
	h.copyHeader(hdr, e.header)
	if !validated {
		for _, f := range e.cc.NoCacheFields {
			delete(hdr, f)
		}
	}
	if h.clientCC != nil {
		hdr["Cache-Control"] = h.clientCC
	}
	h.setAgeAndStatus(hdr, e.currentAge(now), cs)
	if e.status/100 == 2 {
		if code := evalPreconditions(r, e.etag, e.modTime()); code == http.StatusNotModified {
			writeNotModified(w)
			return true
		} else if code != 0 {
			w.WriteHeader(code)
			return true
		}
	}
	if e.status == http.StatusOK && fieldValue(r.Header, "Range") != "" {
		if _, ok := hdr["Content-Type"]; !ok {
			hdr["Content-Type"] = nil // no sniffing by ServeContent
		}
		http.ServeContent(w, r, "", e.lastMod, io.NewSectionReader(readerAt(e.body, file), 0, e.body.size))
		return true
	}
	hdr["Content-Length"] = e.body.length
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead || !bodyAllowed(e.status) {
		return true
	}
	if file != nil {
		io.CopyN(w, file, e.body.size) // client errors end the response; nothing to do
		return true
	}
	for _, c := range e.body.chunks {
		if _, err := w.Write(c); err != nil {
			break
		}
	}
	return true
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// readerAt reads a body from memory or from its open file.
func readerAt(b *body, f *os.File) io.ReaderAt {
	if f != nil {
		return f
	}
	return chunkReader(b.chunks)
}

// chunkReader reads a list of byte chunks as one.
type chunkReader [][]byte

func (cr chunkReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, c := range cr {
		if off >= int64(len(c)) {
			off -= int64(len(c))
			continue
		}
		m := copy(p[n:], c[off:])
		n += m
		off = 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}

// serveFlight answers r from a fetch. It returns false, having written
// nothing, when the fetch's response cannot answer r (not shareable, or
// selected by other field values); the reader is closed in every case.
func (h *routeHandler) serveFlight(w http.ResponseWriter, r *http.Request, f *flight, rd *spoolReader, leader bool, cs *cacheStatus) bool {
	defer rd.close()
	for waiting := true; waiting; {
		var interim <-chan interimResponse
		if leader {
			interim = f.interim
		}
		select {
		case <-f.ready:
			waiting = false
			drainInterim(w, interim)
		case ir := <-interim:
			writeInterim(w, ir)
		case <-r.Context().Done():
			return true // the client left
		}
	}
	switch f.kind {
	case flightNotModified, flightStale:
		if !f.entry.matches(r.Header, h.sel) {
			return false
		}
		if f.kind == flightStale {
			cs.detail = "stale-if-error"
			cs.fwdStatus = f.status
			h.c.stats.stale.Add(1)
		} else {
			cs.stored = f.storing.Load()
			cs.fwdStatus = http.StatusNotModified
		}
		now := h.c.now()
		cs.setTTL(f.entry.ttl(now))
		rd.close()
		return h.serveEntry(w, r, f.entry, cs, f.kind == flightNotModified, now)
	}
	if !leader && (!f.shareable || !f.varyMatches(r)) {
		return false
	}
	hdr := w.Header()
	src := f.header
	if !leader {
		src = f.shared
	}
	if f.shareable {
		h.copySharedHeader(hdr, src)
	} else {
		h.copyHeader(hdr, src)
	}
	cs.fwdStatus = f.status
	storing := f.storing.Load()
	cs.stored = storing
	if storing {
		cs.setTTL(f.ttl)
	} else if cs.detail == "" && f.detail != "" {
		cs.detail = "not-stored " + f.detail
	}
	h.setStatus(hdr, cs)
	if f.status/100 == 2 && f.shareable {
		lm, _ := http.ParseTime(src.Get("Last-Modified"))
		if code := evalPreconditions(r, src.Get("Etag"), lm); code != 0 {
			if code == http.StatusNotModified {
				writeNotModified(w)
			} else {
				w.WriteHeader(code)
			}
			return true
		}
	}
	if f.status == http.StatusOK && storing && r.Header.Get("Range") != "" && r.Method == http.MethodGet {
		if h.serveRangeFromSpool(w, r, rd, src) {
			return true
		}
	}
	w.WriteHeader(f.status)
	if r.Method == http.MethodHead {
		return true
	}
	h.stream(w, r, rd)
	return true
}

// drainInterim sends the 1xx responses that came just before the final
// header.
func drainInterim(w http.ResponseWriter, interim <-chan interimResponse) {
	for {
		select {
		case ir := <-interim:
			writeInterim(w, ir)
		default:
			return
		}
	}
}

// writeInterim sends a 1xx response to the client ahead of the final
// one, leaving the fields set for the final one as they were.
func writeInterim(w http.ResponseWriter, ir interimResponse) {
	hdr := w.Header()
	saved := hdr.Clone()
	clear(hdr)
	for k, v := range ir.header {
		hdr[k] = v
	}
	w.WriteHeader(ir.code)
	clear(hdr)
	for k, v := range saved {
		hdr[k] = v
	}
}

// serveRangeFromSpool waits for the whole body and serves the range.
func (h *routeHandler) serveRangeFromSpool(w http.ResponseWriter, r *http.Request, rd *spoolReader, src http.Header) bool {
	if err := rd.wait(r.Context()); err != nil {
		return false
	}
	s := rd.s
	s.mu.Lock()
	chunks, base, size, file := s.chunks, s.base, s.size, s.file
	s.mu.Unlock()
	var ra io.ReaderAt
	switch {
	case base == 0 && file == nil:
		ra = chunkReader(chunks)
	case file != nil && base == size:
		ra = file
	default:
		return false
	}
	hdr := w.Header()
	delete(hdr, "Content-Length")
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil
	}
	lm, _ := http.ParseTime(src.Get("Last-Modified"))
	http.ServeContent(w, r, "", lm, io.NewSectionReader(ra, 0, size))
	return true
}

// stream copies the spool to the client as the bytes arrive. A broken
// upstream body aborts the client's response, so that it is not taken
// for a complete one.
func (h *routeHandler) stream(w http.ResponseWriter, r *http.Request, rd *spoolReader) {
	rc := http.NewResponseController(w)
	for {
		b, err := rd.next(r.Context())
		if err == io.EOF {
			return
		}
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if !rd.available() {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return
			}
		}
	}
}
