package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// switchable is an upstream that can be taken down, as if every instance
// died.
type switchable struct {
	addr string
	down atomic.Bool
}

func (u *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.down.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("dial: connection refused")
	}
	r.URL.Host = u.addr
	return http.DefaultTransport.RoundTrip(r)
}

// cachePurger applies purges to a cache, as the node's does.
type cachePurger struct{ c *httpcache.Cache }

func (p cachePurger) Purge(_ context.Context, ev httpcache.Event) (int, error) { return p.c.Apply(ev) }

// cachedEdge runs an edge with a cache in front of an origin that tags
// every response with "all" and "path-<path>" and counts its requests.
func cachedEdge(t *testing.T, purge PurgeOptions) (addr string, origin *atomic.Int64, up *switchable) {
	t.Helper()
	origin = new(atomic.Int64)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := origin.Add(1)
		if r.URL.Query().Has("stale") {
			w.Header().Set("Cache-Control", "public, max-age=0") // stored, stale at once
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		w.Header().Set("Surrogate-Key", "all path-"+strings.Trim(r.URL.Path, "/"))
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	t.Cleanup(app.Close)
	cache, err := httpcache.New(httpcache.Options{Memory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if purge.Purger == nil {
		purge.Purger = cachePurger{cache}
	}
	up = &switchable{addr: app.Listener.Addr().String()}
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": up}, []Route{{App: "web", Cache: &httpcache.RouteOptions{Grace: 3600e9}}},
		func(o *Options) { o.Cache = cache; o.Purge = purge })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Run(ctx) }()
	go func() { done <- cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return s.Addrs()[0].String(), origin, up
}

// fetch GETs path from the edge and returns body and Cache-Status.
func fetch(t *testing.T, addr, path string) (string, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Surrogate-Key") != "" {
		t.Errorf("GET %s: tag header delivered to the client", path)
	}
	return string(b), resp.Header.Get("Cache-Status")
}

// send writes a raw request (for methods and request lines net/http's
// client will not produce) and returns the status.
func send(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCacheThroughEdge(t *testing.T) {
	addr, origin, _ := cachedEdge(t, PurgeOptions{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	body1, st1 := fetch(t, addr, "/a")
	body2, st2 := fetch(t, addr, "/a")
	if body1 != body2 || origin.Load() != 1 {
		t.Fatalf("second GET: %q then %q, %d origin requests; want one origin request", body1, body2, origin.Load())
	}
	if !strings.HasPrefix(st1, "tandem; fwd=") || !strings.Contains(st1, "stored") || !strings.HasPrefix(st2, "tandem; hit") {
		t.Errorf("Cache-Status: miss %q, hit %q", st1, st2)
	}
}

func TestPurgeForms(t *testing.T) {
	addr, origin, _ := cachedEdge(t, PurgeOptions{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	warm := func(paths ...string) {
		for _, p := range paths {
			fetch(t, addr, p)
		}
	}
	cached := func(p string) bool {
		before := origin.Load()
		fetch(t, addr, p)
		return origin.Load() == before
	}
	host := addr

	// PURGE of one URL, origin form.
	warm("/a", "/b")
	if got := send(t, addr, "PURGE /a HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); got != 200 {
		t.Fatalf("PURGE /a = %d", got)
	}
	if cached("/a") || !cached("/b") {
		t.Error("PURGE /a: want /a gone and /b still cached")
	}

	// MediaWiki's absolute form.
	warm("/c")
	if got := send(t, addr, "PURGE http://"+host+"/c HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); got != 200 {
		t.Fatalf("absolute-form PURGE = %d", got)
	}
	if cached("/c") {
		t.Error("absolute-form PURGE left /c cached")
	}

	// Tag purge removes exactly the tagged objects.
	warm("/d", "/e")
	if got := send(t, addr, "PURGE / HTTP/1.1\r\nHost: "+host+"\r\nSurrogate-Key: path-d\r\n\r\n"); got != 200 {
		t.Fatalf("tag PURGE = %d", got)
	}
	if cached("/d") || !cached("/e") {
		t.Error("tag purge of path-d: want /d gone and /e still cached")
	}

	// BAN by regex, Varnish style, and WordPress' PURGE with regex.
	warm("/news/1", "/news/2", "/other")
	if got := send(t, addr, "BAN / HTTP/1.1\r\nHost: "+host+"\r\nX-Ban-Url: ^/news/\r\n\r\n"); got != 200 {
		t.Fatalf("BAN = %d", got)
	}
	if cached("/news/1") || cached("/news/2") || !cached("/other") {
		t.Error("BAN ^/news/: want the news pages gone and /other cached")
	}
	warm("/blog/x")
	if got := send(t, addr, "PURGE /blog/.* HTTP/1.1\r\nHost: "+host+"\r\nX-Purge-Method: regex\r\n\r\n"); got != 200 {
		t.Fatalf("WordPress regex PURGE = %d", got)
	}
	if cached("/blog/x") || !cached("/other") {
		t.Error("WordPress regex purge: want /blog/x gone and /other cached")
	}
}

func TestPurgeRefused(t *testing.T) {
	// Loopback is not in the allow list: only the token lets a purge in.
	addr, origin, _ := cachedEdge(t, PurgeOptions{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Token: "0123456789abcdef"})
	fetch(t, addr, "/a")
	for _, raw := range []string{
		"PURGE /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"PURGE /a HTTP/1.1\r\nHost: x\r\nX-Purge-Token: wrong-token-wrong\r\n\r\n",
		"BAN / HTTP/1.1\r\nHost: x\r\nX-Ban-Url: .\r\n\r\n",
	} {
		if got := send(t, addr, raw); got != http.StatusForbidden {
			t.Errorf("%q = %d; want 403", strings.SplitN(raw, "\r\n", 2)[0], got)
		}
	}
	if fetch(t, addr, "/a"); origin.Load() != 1 {
		t.Fatal("a refused purge removed the object")
	}
	if got := send(t, addr, "PURGE /a HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer 0123456789abcdef\r\n\r\n"); got != 200 {
		t.Fatalf("PURGE with the token = %d; want 200", got)
	}
	if fetch(t, addr, "/a"); origin.Load() != 2 {
		t.Error("PURGE with the token did not purge")
	}
}

func TestPurgeDisabled(t *testing.T) {
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": failing{nil}}, []Route{{App: "web"}}, nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("PURGE", "/a", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PURGE without a purger = %d; want 405", rec.Code)
	}
}

func TestStaleWhenAllInstancesDown(t *testing.T) {
	addr, _, up := cachedEdge(t, PurgeOptions{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	body, _ := fetch(t, addr, "/page?stale")
	up.down.Store(true)
	got, status := fetch(t, addr, "/page?stale")
	if got != body {
		t.Errorf("GET with every instance down = %q; want the cached %q", got, body)
	}
	if !strings.HasPrefix(status, "tandem;") || !strings.Contains(status, "fwd=stale") {
		t.Errorf("Cache-Status = %q; want it to say a stale copy was served", status)
	}
	resp, err := http.Get("http://" + addr + "/never-cached")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("uncached page with every instance down = %d; want 502", resp.StatusCode)
	}
}
