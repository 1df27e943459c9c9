package httpcache

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// loginPage answers a request with a session cookie "private" (without
// Vary, as most CMSs do) and others publicly, varying on Cookie; it
// waits for gate when gate is not nil.
func loginPage(gate <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if gate != nil {
			<-gate
		}
		if c, err := r.Cookie("session"); err == nil {
			w.Header().Set("Cache-Control", "private")
			w.Write([]byte("hello " + c.Value))
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Cookie")
		w.Write([]byte("hello reader"))
	}
}

// concurrentGets sends n requests for url with the header pairs at once
// and returns their Cache-Status values once the origin, held until then
// by gate, has answered them all.
func concurrentGets(e *env, gate chan struct{}, n int, url string, hdr ...string) []string {
	var wg sync.WaitGroup
	statuses := make([]string, n)
	for i := range n {
		wg.Go(func() { statuses[i] = e.doAsync("GET", url, hdr...).Header().Get("Cache-Status") })
		synctest.Wait()
	}
	close(gate)
	wg.Wait()
	e.c.waitIdle()
	return statuses
}

// TestHitForPassScopedToCookie: a logged-in view marks hit-for-pass only
// for requests with that session's cookies: anonymous requests that come
// together after it are still coalesced into one origin request.
func TestHitForPassScopedToCookie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, RouteOptions{}, loginPage(nil))
		if r := e.get("http://example.org/page", "Cookie", "session=alice"); r.Body.String() != "hello alice" {
			t.Fatalf("logged-in view = %q", r.Body.String())
		}
		gate := make(chan struct{})
		e.o.set(loginPage(gate))
		statuses := concurrentGets(e, gate, 4, "http://example.org/page")
		if n := e.o.n(); n != 2 {
			t.Errorf("origin calls = %d; want 2 (the logged-in view, then one for 4 anonymous requests); Cache-Status %q", n, statuses)
		}
		for _, s := range statuses {
			if strings.Contains(s, "hit-for-pass") {
				t.Errorf("anonymous Cache-Status = %q; want no hit-for-pass", s)
			}
		}
		// The session's own requests pass, each on its own.
		if cs := e.get("http://example.org/page", "Cookie", "session=alice").Header().Get("Cache-Status"); !strings.Contains(cs, "detail=hit-for-pass") {
			t.Errorf("logged-in Cache-Status = %q; want detail=hit-for-pass", cs)
		}
		// Another session has no marker yet.
		if cs := e.get("http://example.org/page", "Cookie", "session=bob").Header().Get("Cache-Status"); strings.Contains(cs, "hit-for-pass") {
			t.Errorf("another session's Cache-Status = %q; want no hit-for-pass", cs)
		}
	})
}

// TestHitForPassScopedToVary: an uncacheable response that varies on a
// field marks only requests with its value of that field.
func TestHitForPassScopedToVary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lang := func(gate <-chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if gate != nil {
					<-gate
				}
				w.Header().Set("Vary", "Accept-Language")
				w.Header().Set("Cache-Control", "max-age=60")
				if r.Header.Get("Accept-Language") == "de" {
					w.Header().Set("Cache-Control", "no-store") // not translated yet, say
				}
				w.Write([]byte("page"))
			}
		}
		e := newEnv(t, RouteOptions{}, lang(nil))
		e.get("http://example.org/page", "Accept-Language", "de")
		gate := make(chan struct{})
		e.o.set(lang(gate))
		concurrentGets(e, gate, 3, "http://example.org/page", "Accept-Language", "en")
		if n := e.o.n(); n != 2 {
			t.Errorf("origin calls = %d; want 2: the English requests coalesced", n)
		}
		if cs := e.get("http://example.org/page", "Accept-Language", "de").Header().Get("Cache-Status"); !strings.Contains(cs, "hit-for-pass") {
			t.Errorf("German Cache-Status = %q; want detail=hit-for-pass", cs)
		}
	})
}

// TestHitForPassDuration: the marker lasts the route's hit_for_pass; a
// negative one disables it, and the requests then coalesce.
func TestHitForPassDuration(t *testing.T) {
	tests := []struct {
		hfp   time.Duration
		after time.Duration
		pass  bool
	}{
		{0, 119 * time.Second, true}, // the default, 2m
		{0, 121 * time.Second, false},
		{10 * time.Second, 9 * time.Second, true},
		{10 * time.Second, 11 * time.Second, false},
		{-1, 0, false},
	}
	for _, tt := range tests {
		e := newEnv(t, RouteOptions{HitForPass: tt.hfp}, fixed(nil, 200, "x", "Cache-Control", "no-store"))
		e.get("http://example.org/")
		e.clock.Advance(tt.after)
		cs := e.get("http://example.org/").Header().Get("Cache-Status")
		if got := strings.Contains(cs, "hit-for-pass"); got != tt.pass {
			t.Errorf("hit_for_pass %v, %v later: Cache-Status %q; want hit-for-pass %v", tt.hfp, tt.after, cs, tt.pass)
		}
	}
}
