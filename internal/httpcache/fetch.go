package httpcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
)

// conditionalFields are the request fields a fetch for the cache drops:
// the cache asks for the full response and answers the client's
// conditions and ranges itself.
var conditionalFields = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"}

// start runs f's fetch in a goroutine the cache owns.
func (c *Cache) start(f *flight) {
	c.tasks.Go(func() { c.fetch(f) })
}

// fetch makes f's request to the route's upstream handler and feeds the
// response to the flight. It is detached from the client that started
// it (a coalesced response must not die with its first client) and
// bounded by the cache's lifetime.
func (c *Cache) fetch(f *flight) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(f.req.Context()))
	stop := context.AfterFunc(c.ctx, cancel)
	defer func() { stop(); cancel() }()

	stale := f.stale
	for attempt := 0; ; attempt++ {
		fw := &fetchWriter{c: c, f: f, ctx: ctx, header: http.Header{}, stale: stale}
		f.reqTime = c.now()
		err := c.callUpstream(f.route.next, fw, c.outgoing(ctx, f.req, stale))
		if fw.retry && attempt == 0 {
			stale = nil // a 304 for another representation: ask again, unconditionally
			continue
		}
		if !fw.wroteHeader {
			if err != nil {
				fw.WriteHeader(http.StatusBadGateway)
			} else {
				fw.WriteHeader(http.StatusOK)
			}
		}
		fw.finish(err)
		return
	}
}

// callUpstream calls next, turning a panic into an error: the upstream
// handler runs on the cache's goroutine, where a panic would end the
// process. http.ErrAbortHandler (a broken upstream body) is expected.
func (c *Cache) callUpstream(next http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.log.Error("upstream handler panicked", "url", r.URL.String(), "panic", p, "stack", string(debug.Stack()))
			}
			if perr, ok := p.(error); ok {
				err = fmt.Errorf("upstream handler: %w", perr)
			} else {
				err = fmt.Errorf("upstream handler: panic: %v", p)
			}
		}
	}()
	next.ServeHTTP(w, r)
	return nil
}

// outgoing makes the request a fetch sends: a GET for the same URL and
// header without the client's conditions, with the stored response's
// validators when revalidating.
func (c *Cache) outgoing(ctx context.Context, r *http.Request, stale *entry) *http.Request {
	out := r.Clone(ctx)
	out.Method = http.MethodGet
	out.Body, out.ContentLength = http.NoBody, 0
	for _, f := range conditionalFields {
		delete(out.Header, f)
	}
	if stale != nil {
		sent := false
		if stale.etag != "" {
			out.Header["If-None-Match"] = []string{stale.etag}
			sent = true
		}
		if lm := stale.header.Get("Last-Modified"); lm != "" {
			out.Header["If-Modified-Since"] = []string{lm}
			sent = true
		}
		if sent {
			c.stats.revalidations.Add(1)
		}
	}
	return out
}

// fetchWriter is the ResponseWriter the upstream handler writes to: it
// decides what to do with the response when its header arrives and
// feeds the body to the flight's spool.
type fetchWriter struct {
	c           *Cache
	f           *flight
	ctx         context.Context
	header      http.Header
	stale       *entry // revalidated entry for this attempt
	wroteHeader bool
	discard     bool // the body is not needed (304, stale served)
	retry       bool
	err         error // first write error, returned from then on
	size        int64
	limit       int64 // stop storing past this many bytes
	memMax      int64 // spill to disk past this many bytes
	file        *os.File
}

func (w *fetchWriter) Header() http.Header { return w.header }

// Flush is a no-op: the spool publishes every write at once.
func (w *fetchWriter) Flush() {}

func (w *fetchWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		// An interim response (103 Early Hints) goes to the request that
		// started the fetch, if it waits for it; the handler reuses the
		// header map, so it gets a copy.
		select {
		case w.f.interim <- interimResponse{code: code, header: w.header.Clone()}:
		default:
		}
		clear(w.header)
		return
	}
	w.wroteHeader = true
	w.c.onHeader(w, code)
}

func (w *fetchWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(p), nil
	}
	if w.err != nil {
		return 0, w.err
	}
	w.size += int64(len(p))
	sp := w.f.sp
	if w.f.storing.Load() {
		switch {
		case w.size > w.limit, w.file != nil && !w.c.disk.fits(w.size):
			w.stopStoring("too-big")
		case w.file != nil && !w.c.disk.roomy(int64(len(p))):
			w.stopStoring("disk-low")
		case w.file == nil && w.size > w.memMax:
			w.spill()
		}
	}
	if err := sp.write(w.ctx, p); err != nil {
		var de *diskError
		if errors.As(err, &de) {
			// The spool went on in memory with all of p; the response
			// is not stored.
			w.c.diskFailed(err)
			w.stopStoring("disk-error")
			return len(p), nil
		}
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// spill moves a growing body to a disk file, or stops storing it when
// there is no usable disk for it.
func (w *fetchWriter) spill() {
	d := w.c.disk
	if !d.usable() || !d.fits(w.size) || !d.roomy(w.size) {
		if w.size > w.c.memBodyMax(&w.f.route.o) {
			w.stopStoring("too-big")
		}
		return
	}
	f, err := d.create()
	if err == nil {
		if err = w.f.sp.useFile(f); err != nil {
			err = &diskError{op: "write object file", err: err}
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		w.c.diskFailed(err)
		if w.size > w.c.memBodyMax(&w.f.route.o) {
			w.stopStoring("disk-error")
		}
		return
	}
	w.file = f
}

func (w *fetchWriter) stopStoring(reason string) {
	w.f.storing.Store(false)
	w.c.log.Debug("response not stored", "key", w.f.key, "reason", reason)
	w.f.sp.setRetain(false)
	w.c.flights.leave(w.f)
}

// finish ends the body and stores the response when it is complete.
func (w *fetchWriter) finish(err error) {
	f := w.f
	if err == nil && w.err != nil && !errors.Is(w.err, errAbandoned) {
		err = w.err
	}
	if w.discard || f.kind != flightResponse {
		f.sp.finish(nil)
		return
	}
	storing := err == nil && f.storing.Load() && f.sp.retaining()
	if storing && w.file == nil {
		// Stored before the readers see the end, so that a request that
		// follows a complete response finds it; written to disk after.
		e, gen := w.c.storeResponse(f, nil)
		f.sp.finish(nil)
		w.c.flights.leave(f)
		if e != nil && w.c.disk != nil {
			w.c.persist(e, gen)
		}
		return
	}
	var file *os.File
	if storing {
		file = f.sp.detachFile()
	}
	f.sp.finish(err)
	if file != nil {
		w.c.storeResponse(f, file)
		f.sp.release()
	}
	if w.file != nil {
		os.Remove(w.file.Name()) // a no-op once committed (renamed)
	}
	w.c.flights.leave(f)
}

// contentLength is the response's declared length, or -1.
func contentLength(h http.Header) int64 {
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}
