package httpcache

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestCoalescingOneOriginRequest(t *testing.T) {
	const n = 20
	e := newEnv(t, RouteOptions{}, nil)
	release := make(chan struct{})
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("shared"))
	})
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			bodies[i] = e.doAsync("GET", "http://example.org/").Body.String()
		})
	}
	waitFor(t, "all requests to wait", func() bool { return e.c.Stats().Coalesced == n-1 })
	close(release)
	wg.Wait()
	e.c.waitIdle()
	if got := e.o.n(); got != 1 {
		t.Errorf("origin calls = %d; want 1", got)
	}
	for i, b := range bodies {
		if b != "shared" {
			t.Errorf("request %d body = %q; want shared", i, b)
		}
	}
}

// TestCoalescedWaitersStream checks that waiters get the first bytes
// before the origin has finished the body.
func TestCoalescedWaitersStream(t *testing.T) {
	const n = 5
	started := make(chan struct{})
	finish := make(chan struct{})
	var once sync.Once
	org := &origin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("first\n"))
		w.(http.Flusher).Flush()
		once.Do(func() { close(started) })
		<-finish
		w.Write([]byte("rest\n"))
	}}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Handler(RouteOptions{}, org)
	srv := httptest.NewServer(h)
	defer srv.Close()

	firstSeen := make(chan string, n)
	results := make(chan string, n)
	get := func() {
		resp, err := http.Get(srv.URL + "/big")
		if err != nil {
			t.Error(err)
			results <- ""
			return
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		line, _ := br.ReadString('\n')
		firstSeen <- line
		rest, _ := br.ReadString('\n')
		results <- line + rest
	}
	go get()
	<-started
	for range n - 1 {
		go get()
	}
	for range n {
		if line := <-firstSeen; line != "first\n" {
			t.Errorf("first line = %q; want first", line)
		}
	}
	// Every client has its first bytes while the origin still holds the rest.
	close(finish)
	for range n {
		if got := <-results; got != "first\nrest\n" {
			t.Errorf("body = %q", got)
		}
	}
	c.waitIdle()
	if got := org.n(); got != 1 {
		t.Errorf("origin calls = %d; want 1", got)
	}
}

func TestHitForPassDoesNotSerialize(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "mine", "Cache-Control", "private"))
	e.get("http://example.org/") // learns the response is uncacheable
	arrived := make(chan struct{}, 3)
	release := make(chan struct{})
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Cache-Control", "private")
		w.Write([]byte("mine"))
	})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			r := e.doAsync("GET", "http://example.org/")
			if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "hit-for-pass") {
				t.Errorf("Cache-Status = %q; want detail=hit-for-pass", cs)
			}
		})
	}
	// All three reach the origin at the same time: none waits for another.
	for range 3 {
		<-arrived
	}
	close(release)
	wg.Wait()
	if got := e.o.n(); got != 4 {
		t.Errorf("origin calls = %d; want 4", got)
	}
}

func TestHitForPassEndsWhenCacheable(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "no-store"))
	e.get("http://example.org/")
	e.o.set(fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/") // hit-for-pass, but this response is storable
	if r := e.get("http://example.org/"); !isHit(r) {
		t.Errorf("not cached once the response became cacheable: %q", r.Header().Get("Cache-Status"))
	}
}

func TestOriginErrorLeavesNoHitForPass(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 503, "no instance"))
	e.get("http://example.org/")
	e.o.set(fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	if cs := e.get("http://example.org/").Header().Get("Cache-Status"); strings.Contains(cs, "hit-for-pass") {
		t.Errorf("after a 503, Cache-Status = %q; want no hit-for-pass", cs)
	}
	if r := e.get("http://example.org/"); !isHit(r) {
		t.Errorf("not cached after the origin recovered: %q", r.Header().Get("Cache-Status"))
	}
}

func TestUncacheableWaitersGoThemselves(t *testing.T) {
	const n = 4
	e := newEnv(t, RouteOptions{}, nil)
	release := make(chan struct{})
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "private")
		w.Write([]byte("for " + r.Header.Get("X-User")))
	})
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			bodies[i] = e.doAsync("GET", "http://example.org/", "X-User", string(rune('a'+i))).Body.String()
		})
	}
	waitFor(t, "waiters", func() bool { return e.c.Stats().Coalesced == n-1 })
	close(release)
	wg.Wait()
	for i, b := range bodies {
		if want := "for " + string(rune('a'+i)); b != want {
			t.Errorf("request %d got %q; want %q (a private response was shared)", i, b, want)
		}
	}
}
