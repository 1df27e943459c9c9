package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// toServer is an upstream that sends every request to one test server.
type toServer struct{ addr string }

func (u toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r.URL.Host = u.addr
	return http.DefaultTransport.RoundTrip(r)
}

// failing is an upstream that always fails with err.
type failing struct{ err error }

func (u failing) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, u.err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []accessLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []accessLine
	for _, s := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var a accessLine
		if json.Unmarshal([]byte(s), &a) == nil {
			out = append(out, a)
		}
	}
	return out
}

func newTestEdge(t *testing.T, upstreams map[string]http.RoundTripper, routes []Route, mod func(*Options)) (*Server, *lockedBuffer) {
	t.Helper()
	log := new(lockedBuffer)
	o := Options{Listen: "127.0.0.1:0", Upstreams: upstreams, Routes: routes, AccessLog: log,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, log
}

// runningCache returns a small cache, run until the test ends.
func runningCache(t *testing.T) *httpcache.Cache {
	t.Helper()
	cache, err := httpcache.New(httpcache.Options{Memory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cache
}

// runEdge binds s and runs it until the test ends; it returns the first
// address.
func runEdge(t *testing.T, s *Server) string {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s.Addrs()[0].String()
}

func TestProxyHeadersAndAccessLog(t *testing.T) {
	var got http.Header
	var gotHost string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotHost = r.Header.Clone(), r.Host
		io.WriteString(w, "hi")
	}))
	defer app.Close()
	s, log := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}}, nil)

	tests := []struct {
		peer, xff, wantXFF, wantClient, wantFwd string
	}{
		{"192.0.2.9:1234", "6.6.6.6", "192.0.2.9", "192.0.2.9", "for=192.0.2.9;host=wiki.example;proto=http"},                    // untrusted: spoofed XFF dropped
		{"10.0.0.5:1234", "198.51.100.1", "198.51.100.1, 10.0.0.5", "198.51.100.1", "for=10.0.0.5;host=wiki.example;proto=http"}, // trusted proxy: chain kept
		{"[2001:db8::1]:1234", "6.6.6.6", "2001:db8::1", "2001:db8::1", `for="[2001:db8::1]";host=wiki.example;proto=http`},      // IPv6: quoted in Forwarded
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "http://wiki.example/page?x=1", nil)
		req.RemoteAddr = tt.peer
		req.Header.Set("X-Forwarded-For", tt.xff)
		req.Header.Set("X-Request-Id", "from-client")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != "hi" {
			t.Fatalf("GET via %s = %d %q; want 200 hi", tt.peer, rec.Code, rec.Body)
		}
		if xff := got.Get("X-Forwarded-For"); xff != tt.wantXFF {
			t.Errorf("peer %s: app saw X-Forwarded-For %q; want %q", tt.peer, xff, tt.wantXFF)
		}
		if fwd := got.Get("Forwarded"); fwd != tt.wantFwd {
			t.Errorf("peer %s: app saw Forwarded %q; want %q", tt.peer, fwd, tt.wantFwd)
		}
		if p, h := got.Get("X-Forwarded-Proto"), got.Get("X-Forwarded-Host"); p != "http" || h != "wiki.example" {
			t.Errorf("peer %s: app saw X-Forwarded-Proto %q, X-Forwarded-Host %q; want http, wiki.example", tt.peer, p, h)
		}
		if gotHost != "wiki.example" {
			t.Errorf("app saw Host %q; want the client's", gotHost)
		}
		id := rec.Header().Get("X-Request-Id")
		if id == "" || got.Get("X-Request-Id") != id {
			t.Errorf("request id: client got %q, app got %q; want the same, non-empty", id, got.Get("X-Request-Id"))
		}
		if strings.HasPrefix(tt.peer, "192.") && id == "from-client" {
			t.Error("an untrusted client chose its request id")
		}
	}
	lines := log.lines()
	if len(lines) != len(tests) {
		t.Fatalf("access log has %d lines; want %d", len(lines), len(tests))
	}
	if l := lines[1]; l.Status != 200 || l.App != "web" || l.ClientIP != "198.51.100.1" || l.Path != "/page?x=1" || l.Bytes != 2 || l.Upstream == "" {
		t.Errorf("access line = %+v", l)
	}
}

// TestReplayHeaderStripped: an instance's balance.ReplayHeader, meant for
// a follower site's routing, never reaches the client, whatever routes
// the app (here none: a node outside any site, or at the leader site).
func TestReplayHeaderStripped(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(balance.ReplayHeader, "leader")
		io.WriteString(w, "counted")
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}}, nil)
	for _, method := range []string{"GET", "HEAD"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(method, "http://wiki.example/page", nil))
		if rec.Code != 200 || rec.Header().Get(balance.ReplayHeader) != "" {
			t.Errorf("%s: %d with %s %q; want 200 without it", method, rec.Code, balance.ReplayHeader, rec.Header().Get(balance.ReplayHeader))
		}
	}
}

func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		body   string
		want   int
		wantIn string
	}{
		{"no instance", fmt.Errorf("pick: %w", balance.ErrNoTarget), "", 503, "No instance"},
		{"local resources", &balance.UpstreamError{Err: fmt.Errorf("%w: dial: too many open files", balance.ErrLocalResources)}, "", 503, "No instance"},
		{"refused", errors.New("dial tcp: connection refused"), "", 502, "failed to answer"},
		{"timeout", fmt.Errorf("round trip: %w", context.DeadlineExceeded), "", 504, "too long"},
	}
	for _, tt := range tests {
		s, log := newTestEdge(t, map[string]http.RoundTripper{"web": failing{tt.err}}, []Route{{App: "web"}}, nil)
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", "text/html")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantIn) {
			t.Errorf("%s: status %d body %q; want %d containing %q", tt.name, rec.Code, rec.Body, tt.want, tt.wantIn)
		}
		if !strings.Contains(rec.Body.String(), rec.Header().Get("X-Request-Id")) {
			t.Errorf("%s: error page lacks the request id", tt.name)
		}
		if l := log.lines(); len(l) != 1 || l[0].Status != tt.want || l[0].Error == "" {
			t.Errorf("%s: access log %+v", tt.name, l)
		}
	}
}

func TestNoRouteAndBodyLimit(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}},
		[]Route{{Host: "a.example", App: "web"}}, func(o *Options) { o.MaxBodyBytes = 1024 })

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://b.example/", nil))
	if rec.Code != 404 {
		t.Errorf("unrouted host: %d; want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "http://a.example/", strings.NewReader(strings.Repeat("x", 2048))))
	if rec.Code != 413 {
		t.Errorf("declared oversized body: %d; want 413", rec.Code)
	}
	// A chunked body that turns out too large while streaming.
	req := httptest.NewRequest("POST", "http://a.example/", io.MultiReader(strings.NewReader(strings.Repeat("x", 4096))))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 413 && rec.Code != 502 {
		t.Errorf("streamed oversized body: %d; want 413", rec.Code)
	}
}

// TestRunServesUpgradesAndDrains runs a real listener: a WebSocket-style
// upgrade passes through, an in-flight request finishes during shutdown,
// and the hijacked connection is closed at the end.
func TestRunServesUpgradesAndDrains(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw)
			return
		}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "slow done")
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}},
		func(o *Options) { o.ShutdownTimeout = 5 * time.Second })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// Upgrade.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo over upgraded connection = %q, %v", line, err)
	}

	// In-flight request during shutdown.
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if got := <-slow; got != "slow done" {
		t.Errorf("in-flight request during shutdown got %q", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("upgraded connection still open after Run returned")
	}
}

// TestTLSServesHTTP2: the TLS listener negotiates HTTP/2 and proxies.
func TestTLSServesHTTP2(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over "+r.Header.Get("X-Forwarded-Proto"))
	}))
	defer app.Close()
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS() // only for its certificate
	certSrv.Close()
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	writePEM(t, certFile, keyFile, certSrv)

	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}},
		func(o *Options) {
			o.Listen = ""
			o.TLS = &TLSOptions{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}
		})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	tr := &http.Transport{TLSClientConfig: certSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	client := &http.Client{Transport: tr}
	resp, err := client.Get("https://" + s.Addrs()[0].String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "over https" {
		t.Errorf("GET over TLS: proto %s body %q; want HTTP/2 and \"over https\"", resp.Proto, body)
	}
}

func TestQuoteForwarded(t *testing.T) {
	tests := []struct{ in, want string }{
		{"wiki.example", "wiki.example"},
		{"wiki.example:8080", `"wiki.example:8080"`},
		{"[::1]:80", `"[::1]:80"`},
		{`a"b\c`, `"a\"b\\c"`},
	}
	for _, tt := range tests {
		if got := quoteForwarded(tt.in); got != tt.want {
			t.Errorf("quoteForwarded(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}
