package httpcache

import (
	"net/http"
	"net/url"
	"strings"
)

// passWriter relays a response from upstream to the client unchanged
// but for the delivery rules: Cache-Status added, skipped fields
// removed. onHeader, if set, sees the status before it is sent.
type passWriter struct {
	http.ResponseWriter
	h           *routeHandler
	cs          *cacheStatus
	onHeader    func(status int, h http.Header)
	wroteHeader bool
}

func (w *passWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	hdr := w.ResponseWriter.Header()
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	if w.onHeader != nil {
		w.onHeader(code, hdr)
	}
	for k := range w.h.skip {
		delete(hdr, k)
	}
	w.cs.fwdStatus = code
	w.h.setStatus(hdr, w.cs)
	w.ResponseWriter.WriteHeader(code)
}

func (w *passWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the client's writer
// (Flush, deadlines, Hijack).
func (w *passWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards flushes for streaming responses.
func (w *passWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// pass sends r to upstream as it is and relays the answer.
func (h *routeHandler) pass(w http.ResponseWriter, r *http.Request, cs *cacheStatus) {
	h.c.stats.passes.Add(1)
	h.next.ServeHTTP(&passWriter{ResponseWriter: w, h: h, cs: cs}, r)
}

// safeMethods are the methods that never invalidate (RFC 9110 §9.2.1).
var safeMethods = map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PRI": true}

// serveOther passes a request with a method other than GET and HEAD.
// A non-error response to an unsafe method invalidates the target URI
// and the same-origin Location and Content-Location (RFC 9111 §4.4), and
// the groups it names in Cache-Groups-Invalidation (RFC 9875).
func (h *routeHandler) serveOther(w http.ResponseWriter, r *http.Request) {
	pw := &passWriter{ResponseWriter: w, h: h, cs: &cacheStatus{fwd: "method"}}
	if !safeMethods[r.Method] {
		pw.onHeader = func(status int, hdr http.Header) {
			if status >= 200 && status < 400 {
				h.invalidateAfter(r, hdr)
			}
		}
	}
	h.c.stats.passes.Add(1)
	h.next.ServeHTTP(pw, r)
}

// invalidateAfter invalidates what an unsafe request changed.
func (h *routeHandler) invalidateAfter(r *http.Request, hdr http.Header) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	keys := []string{h.keyer.urlKey(base)}
	for _, f := range []string{"Location", "Content-Location"} {
		v := hdr.Get(f)
		if v == "" {
			continue
		}
		u, err := base.Parse(v)
		if err != nil || !strings.EqualFold(u.Scheme, base.Scheme) || normalizeHost(u.Scheme, u.Host) != normalizeHost(base.Scheme, base.Host) {
			continue // another origin: must not be invalidated (RFC 9111 §4.4)
		}
		keys = append(keys, h.keyer.urlKey(u))
	}
	for _, k := range keys {
		h.c.invalidateKey(k)
	}
	if groups := ParseTags(TagsStrings, hdr["Cache-Groups-Invalidation"]); len(groups) > 0 {
		h.c.Apply(Event{Kind: PurgeTag, Tags: groups, Origin: keyOrigin(keys[0]), Time: h.c.now()})
	}
}
