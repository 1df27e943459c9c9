package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// TestFallbackBelowCache: with a route's fallback on, what its cache
// holds is still served — fresh, or stale within grace — and only what
// the cache would fetch gets the 503 page; the app is not asked. A route
// without a fallback is not affected, and turning it off serves as usual.
func TestFallbackBelowCache(t *testing.T) {
	var origin atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := origin.Add(1)
		if r.URL.Query().Has("stale") {
			w.Header().Set("Cache-Control", "public, max-age=0")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	t.Cleanup(app.Close)
	cache, err := httpcache.New(httpcache.Options{Memory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	up := &switchable{addr: app.Listener.Addr().String()}
	fb := NewFallback()
	routes := []Route{
		{Path: "/", App: "web", Cache: &httpcache.RouteOptions{Grace: 3600e9}, Fallback: fb},
		{Path: "/live", App: "web"},
	}
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": up}, routes, func(o *Options) { o.Cache = cache })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Run(ctx) }()
	go func() { done <- cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	addr := s.Addrs()[0].String()
	get := func(path string, html bool) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if html {
			req.Header.Set("Accept", "text/html")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Cache-Status")
	}

	get("/fresh", false)
	get("/old?stale", false)
	fb.On("")
	before := origin.Load()
	if code, body, cs := get("/fresh", false); code != 200 || body != "/fresh #1" || !strings.HasPrefix(cs, "tandem; hit") {
		t.Errorf("fresh copy with the fallback on: %d %q (%s); want the cache's copy", code, body, cs)
	}
	if code, body, cs := get("/old?stale", false); code != 200 || body != "/old #2" || !strings.Contains(cs, "stale") {
		t.Errorf("stale copy within grace with the fallback on: %d %q (%s); want it served stale", code, body, cs)
	}
	code, body, _ := get("/never-cached", true)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, DefaultFallbackTitle) || !strings.Contains(body, "<html") {
		t.Errorf("uncached page with the fallback on: %d %q; want the 503 fallback page in HTML", code, body)
	}
	if origin.Load() != before {
		t.Errorf("the app got %d requests with the fallback on; want none", origin.Load()-before)
	}
	if code, _, _ := get("/live/x", false); code != 200 || origin.Load() != before+1 {
		t.Errorf("route without a fallback: %d; want it served by the app", code)
	}
	fb.Off()
	if code, body, _ := get("/never-cached", false); code != 200 || !strings.HasPrefix(body, "/never-cached #") {
		t.Errorf("after Off: %d %q; want the app's answer", code, body)
	}
}
