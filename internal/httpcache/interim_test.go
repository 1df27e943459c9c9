package httpcache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// headerLog records each status written and the fields sent with it; it
// passes only the final status on to its recorder.
type headerLog struct {
	*httptest.ResponseRecorder
	codes  []int
	fields []http.Header
}

func (l *headerLog) WriteHeader(code int) {
	l.codes = append(l.codes, code)
	l.fields = append(l.fields, l.Header().Clone())
	if code >= 200 {
		l.ResponseRecorder.WriteHeader(code)
	}
}

// TestInterimResponsesRelayed: a 103 Early Hints the app sends before its
// answer reaches the client that started the fetch, with its own fields
// only; the final answer keeps the fields set before (the request id)
// and carries none of the 103's. A hit has no interim response.
func TestInterimResponsesRelayed(t *testing.T) {
	e := newEnv(t, RouteOptions{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		clear(w.Header()) // as httputil.ReverseProxy does after a 1xx
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "page")
	})
	rw := &headerLog{ResponseRecorder: httptest.NewRecorder()}
	rw.Header().Set("X-Request-Id", "r1")
	e.h.ServeHTTP(rw, httptest.NewRequest("GET", "http://x/p", nil))
	e.c.waitIdle()
	if len(rw.codes) != 2 || rw.codes[0] != http.StatusEarlyHints || rw.codes[1] != http.StatusOK {
		t.Fatalf("statuses written = %v; want [103 200]", rw.codes)
	}
	if hints := rw.fields[0]; hints.Get("Link") == "" || hints.Get("X-Request-Id") != "" {
		t.Errorf("103 fields = %v; want the app's Link only", hints)
	}
	if final := rw.fields[1]; final.Get("X-Request-Id") != "r1" || final.Get("Link") != "" {
		t.Errorf("200 fields = %v; want the request id kept and no Link", final)
	}
	if rw.Body.String() != "page" {
		t.Errorf("body = %q; want page", rw.Body.String())
	}
	hit := &headerLog{ResponseRecorder: httptest.NewRecorder()}
	e.h.ServeHTTP(hit, httptest.NewRequest("GET", "http://x/p", nil))
	if len(hit.codes) != 1 || hit.codes[0] != http.StatusOK || e.o.n() != 1 {
		t.Errorf("second request: statuses %v after %d origin calls; want a hit, [200], 1 call", hit.codes, e.o.n())
	}
}
