package httpcache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a
// benchmark measures the cache and not a recorder.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func benchHit(b *testing.B, size int) {
	body := strings.Repeat("x", size)
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := c.Handler(RouteOptions{}, fixed(nil, 200, body, "Cache-Control", "max-age=3600", "Content-Type", "text/html"))
	r := httptest.NewRequest("GET", "http://example.org/page?id=1", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	c.waitIdle()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		h.ServeHTTP(w, r)
	}
	if w.n != size {
		b.Fatalf("wrote %d bytes; want %d", w.n, size)
	}
}

func BenchmarkHit1KiB(b *testing.B)   { benchHit(b, 1<<10) }
func BenchmarkHit100KiB(b *testing.B) { benchHit(b, 100<<10) }

func BenchmarkHitParallel1KiB(b *testing.B) {
	body := strings.Repeat("x", 1<<10)
	c, _ := New(Options{})
	h, _ := c.Handler(RouteOptions{}, fixed(nil, 200, body, "Cache-Control", "max-age=3600"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.org/", nil))
	c.waitIdle()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "http://example.org/", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkHitVaryCookies is a hit on a route with a cookie list for a
// response that varies on Cookie, with an analytics cookie beside the
// listed one: what the list costs a hit.
func BenchmarkHitVaryCookies(b *testing.B) {
	c, _ := New(Options{})
	h, _ := c.Handler(RouteOptions{VaryCookies: []string{"sessionid"}},
		fixed(nil, 200, strings.Repeat("x", 1<<10), "Cache-Control", "max-age=3600", "Vary", "Cookie"))
	r := httptest.NewRequest("GET", "http://example.org/", nil)
	r.Header.Set("Cookie", "_ga=GA1.2.1234567890.1700000000; sessionid=abc")
	h.ServeHTTP(httptest.NewRecorder(), r)
	c.waitIdle()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if !strings.Contains(w.h.Get("Cache-Status"), "hit") {
		b.Fatalf("Cache-Status = %q; want a hit", w.h.Get("Cache-Status"))
	}
}
