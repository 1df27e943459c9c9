package httpcache

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStaleWhileRevalidateOneBackgroundFetch(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	release := make(chan struct{})
	version := "1"
	var mu sync.Mutex
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := version
		mu.Unlock()
		if v == "2" {
			<-release // the background revalidation waits while others are served
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Write([]byte("v" + v))
	})
	e.get("http://example.org/")
	mu.Lock()
	version = "2"
	mu.Unlock()
	e.clock.Advance(20 * time.Second)
	for range 5 {
		r := e.doAsync("GET", "http://example.org/")
		if r.Body.String() != "v1" || !isHit(r) {
			t.Fatalf("stale response: %q hit %v; want v1 served at once", r.Body.String(), isHit(r))
		}
		if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "detail=stale-while-revalidate") || !strings.Contains(cs, "ttl=-10") {
			t.Errorf("Cache-Status = %q; want ttl=-10 and detail=stale-while-revalidate", cs)
		}
	}
	close(release)
	e.c.waitIdle()
	if n := e.o.n(); n != 2 {
		t.Errorf("origin calls = %d; want 2 (one background revalidation)", n)
	}
	if r := e.get("http://example.org/"); r.Body.String() != "v2" || !isHit(r) {
		t.Errorf("after revalidation: %q hit %v; want v2 hit", r.Body.String(), isHit(r))
	}
	if s := e.c.Stats(); s.StaleServed != 5 {
		t.Errorf("StaleServed = %d; want 5", s.StaleServed)
	}
}

func TestSWRPastWindowGoesForward(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=10, stale-while-revalidate=5"))
	e.get("http://example.org/")
	e.clock.Advance(20 * time.Second)
	if r := e.get("http://example.org/"); isHit(r) {
		t.Errorf("served stale past the stale-while-revalidate window")
	}
}

func TestStaleIfErrorAndGrace(t *testing.T) {
	tests := []struct {
		name  string
		cc    string
		grace time.Duration
		after time.Duration
		stale bool
	}{
		{"stale-if-error within", "max-age=10, stale-if-error=60", 0, 30 * time.Second, true},
		{"stale-if-error past", "max-age=10, stale-if-error=60", 0, 120 * time.Second, false},
		{"grace within", "max-age=10", time.Hour, 30 * time.Minute, true},
		{"grace past", "max-age=10", time.Hour, 2 * time.Hour, false},
		{"no permission", "max-age=10", 0, 30 * time.Second, false},
		{"must-revalidate beats grace", "max-age=10, must-revalidate", time.Hour, 30 * time.Second, false},
		{"s-maxage beats grace", "public, max-age=0, s-maxage=10", time.Hour, 30 * time.Second, false},
		{"s-maxage beats stale-if-error", "s-maxage=10, stale-if-error=60", 0, 30 * time.Second, false},
		{"s-maxage in CDN-Cache-Control beats grace", "s-maxage=10", time.Hour, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := "Cache-Control"
			if strings.Contains(tt.name, "CDN-Cache-Control") {
				field = "CDN-Cache-Control"
			}
			e := newEnv(t, RouteOptions{Grace: tt.grace}, fixed(nil, 200, "good", field, tt.cc))
			e.get("http://example.org/")
			e.o.set(fixed(nil, 503, "down"))
			e.clock.Advance(tt.after)
			r := e.get("http://example.org/")
			if got := r.Code == 200 && r.Body.String() == "good"; got != tt.stale {
				t.Fatalf("served stale = %v (%d %q); want %v", got, r.Code, r.Body.String(), tt.stale)
			}
			if tt.stale {
				cs := r.Header().Get("Cache-Status")
				if !strings.Contains(cs, "fwd=stale; fwd-status=503") || r.Header().Get("Warning") != "" {
					t.Errorf("Cache-Status %q Warning %q; want fwd=stale; fwd-status=503 and no Warning", cs, r.Header().Get("Warning"))
				}
			} else if r.Code != 503 {
				t.Errorf("status = %d; want the origin's 503", r.Code)
			}
		})
	}
}

// TestGraceWhenOriginGone runs the cache in front of a real reverse
// proxy whose backend has gone away: the proxy answers 502 itself.
func TestGraceWhenOriginGone(t *testing.T) {
	backend := httptest.NewServer(fixed(nil, 200, "page", "Cache-Control", "max-age=10"))
	u, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ErrorLog: nil,
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	clock := newClock()
	c, err := New(Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Handler(RouteOptions{Grace: time.Hour}, proxy)
	front := httptest.NewServer(h)
	defer front.Close()
	get := func() (int, string, string) {
		resp, err := http.Get(front.URL + "/p")
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readBody(t, resp), resp.Header.Get("Cache-Status")
	}
	get()
	c.waitIdle()
	backend.Close()
	clock.Advance(time.Minute)
	code, body, cs := get()
	if code != 200 || body != "page" || !strings.Contains(cs, "fwd-status=502") {
		t.Errorf("origin gone: %d %q %q; want 200 page with fwd-status=502", code, body, cs)
	}
	c.waitIdle()
}

// TestSMaxAgeOnError: s-maxage implies proxy-revalidate (RFC 9111
// §5.2.2.10), so a response with it stands in for an app error only
// while it is fresh and no purge marked it stale; its own
// stale-while-revalidate still applies while the app answers.
func TestSMaxAgeOnError(t *testing.T) {
	t.Run("fresh, on a reload", func(t *testing.T) {
		e := newEnv(t, RouteOptions{Grace: time.Hour}, fixed(nil, 200, "good", "Cache-Control", "s-maxage=100"))
		e.get("http://example.org/")
		e.o.set(fixed(nil, 503, "down"))
		e.clock.Advance(10 * time.Second)
		if r := e.get("http://example.org/", "Cache-Control", "max-age=0"); r.Code != 200 || r.Body.String() != "good" {
			t.Errorf("fresh response when the app fails = %d %q; want the stored 200", r.Code, r.Body.String())
		}
	})
	t.Run("soft-purged", func(t *testing.T) {
		e := newEnv(t, RouteOptions{Grace: time.Hour}, fixed(nil, 200, "good", "Cache-Control", "s-maxage=100"))
		e.get("http://example.org/")
		e.c.Apply(Event{Kind: PurgeURL, URL: "http://example.org/", Soft: true})
		e.o.set(fixed(nil, 503, "down"))
		r := e.get("http://example.org/", "Cache-Control", "max-age=0")
		if r.Code != 503 {
			t.Errorf("soft-purged s-maxage response when the app fails = %d %q; want the app's 503", r.Code, r.Body.String())
		}
	})
	t.Run("stale-while-revalidate", func(t *testing.T) {
		e := newEnv(t, RouteOptions{}, fixed(nil, 200, "good", "Cache-Control", "s-maxage=10, stale-while-revalidate=60"))
		e.get("http://example.org/")
		e.clock.Advance(20 * time.Second)
		if r := e.get("http://example.org/"); !isHit(r) || !strings.Contains(r.Header().Get("Cache-Status"), "stale-while-revalidate") {
			t.Errorf("Cache-Status = %q; want a stale-while-revalidate hit", r.Header().Get("Cache-Status"))
		}
	})
}
