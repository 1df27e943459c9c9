//go:build !race

// The race detector changes allocation counts: these tests run without it.

package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// Allocations per request through the edge with every request traced,
// measured with tracedAllocs when the edge made its spans itself, before
// they moved here: a request proxied through a balancer (server span and
// upstream attempt), and a cache hit (server span and cache lookup),
// each without and with a traceparent. A change that makes tracing
// allocate less may lower them. The proxied figures are 2 above the
// edge's own: an idempotent request's try holds a cancellable context
// (hedging) and its response body the cancel.
const (
	allocsTracedProxied       = 76
	allocsTracedProxiedParent = 79
	allocsTracedHit           = 40
	allocsTracedHitParent     = 43
)

// memoryApp answers every request in memory, cacheable for 5 minutes.
type memoryApp struct{}

func (memoryApp) RoundTrip(r *http.Request) (*http.Response, error) {
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

// dropSpans is a span processor that keeps nothing: what is measured is
// the making of the spans, not their export.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }

// tracedHandler is an edge whose every request is traced, serving "/"
// from an app in memory behind a balancer (cached when cached is set),
// with an access log, as the node wires it.
func tracedHandler(t testing.TB, cached bool) http.Handler {
	t.Helper()
	tracer := telemetry.NewRequestTracer(sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropSpans{})))
	p, err := balance.NewPool(balance.Options{App: "web", Transport: memoryApp{}, OnAttempt: edge.TraceAttempts(tracer)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(balance.Target{ID: "web-1", Addr: "192.0.2.9:80"}); err != nil {
		t.Fatal(err)
	}
	o := edge.Options{Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": p},
		Routes: []edge.Route{{Path: "/", App: "web"}}, AccessLog: io.Discard, Tracer: tracer}
	if cached {
		o.Cache = runningCache(t)
		o.Routes[0].Cache = &httpcache.RouteOptions{}
	}
	s, err := edge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

// tracedRequest is the request the measures send.
func tracedRequest(traceparent string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/page", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("User-Agent", "test/1")
	if traceparent != "" {
		r.Header.Set("Traceparent", traceparent)
	}
	return r
}

// tracedAllocs measures the allocations of one traced request.
func tracedAllocs(t *testing.T, cached bool, traceparent string) float64 {
	t.Helper()
	h, r := tracedHandler(t, cached), tracedRequest(traceparent)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // stores the page when cached
	return testing.AllocsPerRun(200, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	})
}

// TestTracingCostsNoMoreAllocations: a traced request allocates no more
// than it did when the edge made its spans itself.
func TestTracingCostsNoMoreAllocations(t *testing.T) {
	const parent = "00-" + clientTraceID + "-" + clientSpanID + "-01"
	tests := []struct {
		name        string
		cached      bool
		traceparent string
		before      float64
	}{
		{"proxied", false, "", allocsTracedProxied},
		{"proxied with traceparent", false, parent, allocsTracedProxiedParent},
		{"hit", true, "", allocsTracedHit},
		{"hit with traceparent", true, parent, allocsTracedHitParent},
	}
	for _, tt := range tests {
		if got := tracedAllocs(t, tt.cached, tt.traceparent); got > tt.before {
			t.Errorf("tracedAllocs(%s) = %v; want <= %v as before", tt.name, got, tt.before)
		} else {
			t.Logf("%s: %v allocations (before: %v)", tt.name, got, tt.before)
		}
	}
}

// BenchmarkTracedRequest serves traced requests through the edge.
func BenchmarkTracedRequest(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "proxied"
		if cached {
			name = "hit"
		}
		b.Run(name, func(b *testing.B) {
			h, r := tracedHandler(b, cached), tracedRequest("")
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
