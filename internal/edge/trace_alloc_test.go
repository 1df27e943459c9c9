//go:build !race

// The race detector changes allocation counts: these tests run without it.

package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// Allocations per request of the edge's handler, measured with
// allocsPerRequest on the edge as it was before tracing was added: a
// request proxied to the app, and a cache hit. A change that makes the
// edge allocate less may lower them (the hit went from 19 to 13 when its
// header values were made in fewer allocations).
const (
	allocsProxiedBefore = 42
	allocsHitBefore     = 13
)

// staticApp answers every request in memory, cacheable for 5 minutes.
type staticApp struct{}

func (staticApp) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: 5,
		Header: http.Header{"Content-Length": {"5"}, "Cache-Control": {"public, max-age=300"}},
		Body:   io.NopCloser(strings.NewReader("hello")),
	}, nil
}

// discardWriter is a ResponseWriter that allocates nothing itself.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// allocsPerRequest measures the handler's allocations for GET path.
func allocsPerRequest(t *testing.T, cached bool) float64 {
	t.Helper()
	o := Options{Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": staticApp{}},
		Routes: []Route{{Path: "/", App: "web"}}, AccessLog: io.Discard}
	if cached {
		o.Cache = runningCache(t)
		o.Routes[0].Cache = &httpcache.RouteOptions{}
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/page", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // stores the page when cached
	return testing.AllocsPerRun(200, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	})
}

// TestTracingOffCostsNoAllocations: with no Tracer (telemetry gives
// none when tracing is off), a request allocates no more than it did
// before tracing existed.
func TestTracingOffCostsNoAllocations(t *testing.T) {
	for _, cached := range []bool{false, true} {
		before := float64(allocsProxiedBefore)
		if cached {
			before = allocsHitBefore
		}
		if got := allocsPerRequest(t, cached); got > before {
			t.Errorf("allocsPerRequest(cached %v) = %v; want <= %v as before tracing", cached, got, before)
		}
	}
}
