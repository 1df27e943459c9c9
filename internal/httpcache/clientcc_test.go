package httpcache

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestClientCacheControl: the route's client Cache-Control replaces the
// app's on every response the cache may share, stored or not, hit or
// miss; the stored response keeps the app's (a route without the option
// on the same cache gets it), and answers that are not shareable pass
// unchanged.
func TestClientCacheControl(t *testing.T) {
	const browser = "private, must-revalidate, max-age=0"
	e := newEnv(t, RouteOptions{ClientCacheControl: browser}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		switch {
		case r.URL.Path == "/mine":
			w.Header().Set("Cache-Control", "private, no-store")
		case r.Header.Get("If-None-Match") == `"v1"`:
			w.Header().Set("Cache-Control", "public, s-maxage=300")
			w.WriteHeader(http.StatusNotModified)
			return
		default:
			w.Header().Set("Cache-Control", "public, s-maxage=300")
		}
		w.Write([]byte("page"))
	})
	plain, err := e.c.Handler(RouteOptions{}, e.o)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() *httptest.ResponseRecorder
		want string
		code int
	}{
		{"miss", func() *httptest.ResponseRecorder { return e.get("http://example.org/page") }, browser, 200},
		{"hit", func() *httptest.ResponseRecorder { return e.get("http://example.org/page") }, browser, 200},
		{"conditional hit", func() *httptest.ResponseRecorder {
			return e.get("http://example.org/page", "If-None-Match", `"v1"`)
		}, browser, 304},
		{"revalidated", func() *httptest.ResponseRecorder {
			e.clock.Advance(301 * time.Second)
			return e.get("http://example.org/page")
		}, browser, 200},
		{"stored copy", func() *httptest.ResponseRecorder { return httptestGet(plain, "http://example.org/page") }, "public, s-maxage=300", 200},
		{"not shareable", func() *httptest.ResponseRecorder { return e.get("http://example.org/mine") }, "private, no-store", 200},
	}
	for _, s := range steps {
		r := s.do()
		if got := r.Header().Values("Cache-Control"); len(got) != 1 || got[0] != s.want || r.Code != s.code {
			t.Errorf("%s: %d, Cache-Control %q; want %d, %q (Cache-Status %q)",
				s.name, r.Code, got, s.code, s.want, r.Header().Get("Cache-Status"))
		}
	}
	if e.o.n() != 3 {
		t.Errorf("origin calls = %d; want 3 (miss, revalidation, not shareable)", e.o.n())
	}
}

func TestClientCacheControlValidated(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"max-age=0\r\nX-Evil: 1", " ", ",", "max-age=0\x00"} {
		if _, err := c.Handler(RouteOptions{ClientCacheControl: v}, http.NotFoundHandler()); err == nil {
			t.Errorf("Handler with client_cache_control %q: no error", v)
		}
	}
}
