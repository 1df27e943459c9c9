package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// evalPreconditions evaluates a request's preconditions against a
// response's validators in the order of RFC 9110 §13.2.2. It returns 0
// to send the response, or 304 or 412. lastMod is zero when unknown.
func evalPreconditions(r *http.Request, etag string, lastMod time.Time) int {
	h := r.Header
	if im := h["If-Match"]; len(im) > 0 {
		if !etagListMatch(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := fieldValue(h, "If-Unmodified-Since"); ius != "" && !lastMod.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && lastMod.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if inm := h["If-None-Match"]; len(inm) > 0 {
		if etagListMatch(inm, etag, false) {
			if safe {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
	} else if ims := fieldValue(h, "If-Modified-Since"); ims != "" && safe && !lastMod.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !lastMod.Truncate(time.Second).After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// etagListMatch reports whether the entity-tag list (or "*") in values
// matches etag, with the strong or the weak comparison.
func etagListMatch(values []string, etag string, strong bool) bool {
	if etag == "" {
		return false
	}
	found := false
	splitList(values, func(m string) bool {
		if m == "*" || etagEqual(m, etag, strong) {
			found = true
			return false
		}
		return true
	})
	return found
}

func etagEqual(a, b string, strong bool) bool {
	aw, bw := strings.HasPrefix(a, "W/"), strings.HasPrefix(b, "W/")
	if strong && (aw || bw) {
		return false
	}
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// writeNotModified sends a 304 for the header already set on w.
func writeNotModified(w http.ResponseWriter) {
	h := w.Header()
	delete(h, "Content-Type")
	delete(h, "Content-Length")
	delete(h, "Content-Encoding")
	delete(h, "Content-Range")
	w.WriteHeader(http.StatusNotModified)
}
