//go:build !race

// The race detector changes allocation counts: these tests run without it.

package edge

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// drainApp reads the request's body and answers "ok".
type drainApp struct{}

func (drainApp) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: 2,
		Header: http.Header{"Content-Length": {"2"}}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// postCost returns the allocations and bytes allocated per POST of a
// 4 KiB body through the edge, the request's own excluded.
func postCost(t *testing.T, stream bool) (allocs, bytes float64) {
	t.Helper()
	s, err := New(Options{Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": drainApp{}},
		Routes: []Route{{Path: "/", App: "web", StreamBody: stream}}, AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	body := strings.NewReader(strings.Repeat("x", 4<<10))
	w := &discardWriter{h: http.Header{}}
	reqs := make([]*http.Request, 0, 201)
	next := func() *http.Request {
		r := reqs[len(reqs)-1]
		reqs = reqs[:len(reqs)-1]
		return r
	}
	fill := func(n int) {
		reqs = reqs[:0]
		for range n {
			r, _ := http.NewRequest(http.MethodPost, "http://example.com/form", io.NopCloser(body))
			r.RemoteAddr, r.ContentLength = "192.0.2.1:1234", int64(body.Size())
			reqs = append(reqs, r)
		}
	}
	serve := func() {
		body.Seek(0, io.SeekStart)
		clear(w.h)
		h.ServeHTTP(w, next())
	}
	fill(201)
	allocs = testing.AllocsPerRun(200, serve)
	fill(1000)
	serve() // warm the pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 999 {
		serve()
	}
	runtime.ReadMemStats(&after)
	return allocs, float64(after.TotalAlloc-before.TotalAlloc) / 999
}

// TestBufferingASmallBodyCostsLittle: reading a small body before the
// app gets it costs two allocations more than streaming it (the buffered
// body and its GetBody), and not its size in memory: the buffer is
// pooled.
func TestBufferingASmallBodyCostsLittle(t *testing.T) {
	streamAllocs, streamBytes := postCost(t, true)
	bufAllocs, bufBytes := postCost(t, false)
	if bufAllocs > streamAllocs+2 {
		t.Errorf("a buffered 4 KiB POST makes %v allocations, a streamed one %v; want at most 2 more", bufAllocs, streamAllocs)
	}
	if bufBytes > streamBytes+1024 {
		t.Errorf("a buffered 4 KiB POST allocates %.0f bytes, a streamed one %.0f; want under 1 KiB more (the buffer pooled)", bufBytes, streamBytes)
	}
}
