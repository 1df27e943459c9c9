package edge

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// benchOrigin answers like bench/origin's /hit/1k: a 1 KiB body,
// cacheable for an hour, with the Date a Go server adds.
type benchOrigin struct{ body string }

func (o benchOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		ContentLength: int64(len(o.body)),
		Header: http.Header{
			"Cache-Control":  {"public, max-age=3600"},
			"Content-Type":   {"text/plain; charset=utf-8"},
			"Content-Length": {strconv.Itoa(len(o.body))},
			"Date":           {time.Now().UTC().Format(http.TimeFormat)},
		},
		Body: io.NopCloser(strings.NewReader(o.body)),
	}, nil
}

// headerWriter is a ResponseWriter that, like net/http's, gets a fresh
// header map per request and serializes the header when it is written,
// so that the benchmark pays for every field the edge sets.
type headerWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *headerWriter) Header() http.Header { return w.h }

func (w *headerWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.h.Write(io.Discard)
	}
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.n += len(p)
	return len(p), nil
}

// BenchmarkEdgeHit1KiB serves a stored 1 KiB response through the edge's
// whole handler chain, wired as the node wires it (a gate in front of the
// app, metrics and series observing, no access log, no tracing).
func BenchmarkEdgeHit1KiB(b *testing.B) {
	cache, err := httpcache.New(httpcache.Options{Memory: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cache.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })

	s, err := New(Options{
		Listen:    "127.0.0.1:0",
		Upstreams: map[string]http.RoundTripper{"origin": NewGate(benchOrigin{body: strings.Repeat("x", 1<<10)})},
		Routes:    []Route{{Path: "/", App: "origin", Cache: &httpcache.RouteOptions{}}},
		Cache:     cache,
		Observer: telemetry.NewRequestObserver(telemetry.NewMetrics(),
			telemetry.NewSeries(telemetry.SeriesOptions{Apps: []string{"origin"}}), map[string]string{"origin": "/healthz"}),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/hit/1k", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("User-Agent", "wrk")
	serve := func() *headerWriter {
		w := &headerWriter{h: make(http.Header)}
		h.ServeHTTP(w, r)
		return w
	}
	// The store completes in the background: ask until a hit comes back.
	for i := 0; cache.Outcome(serve().h) != httpcache.OutcomeHit; i++ {
		if i == 100 {
			b.Fatal("no cache hit after 100 requests")
		}
		time.Sleep(time.Millisecond)
	}

	b.ReportAllocs()
	b.SetBytes(1 << 10)
	w := &headerWriter{}
	for b.Loop() {
		*w = headerWriter{h: make(http.Header)} // net/http makes one per request too
		h.ServeHTTP(w, r)
	}
	if w.n != 1<<10 || cache.Outcome(w.h) != httpcache.OutcomeHit {
		b.Fatalf("last response: %d bytes, Cache-Status %q; want 1024 bytes, a hit", w.n, w.h.Get("Cache-Status"))
	}
}
