package balance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// peers records the client addresses a backend saw on requests other than
// health checks: one per upstream connection the pool used.
type peers struct {
	mu    sync.Mutex
	addrs map[string]int
}

func (p *peers) seen(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addrs == nil {
		p.addrs = make(map[string]int)
	}
	p.addrs[r.RemoteAddr]++
}

func (p *peers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.addrs)
}

// countingBackend answers "ok" and records the connections it was asked
// on.
func countingBackend(t *testing.T) (*backend, *peers) {
	ps := new(peers)
	return newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		ps.seen(r)
		io.WriteString(w, "ok")
	}), ps
}

// connsOf returns the direct connections of target id.
func (tp *testPool) connsOf(t *testing.T, id string) *conns {
	t.Helper()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tg, ok := tp.byID[id]
	if !ok || tg.conns == nil {
		t.Fatalf("target %s has no direct connections", id)
	}
	return tg.conns
}

func (cs *conns) idleCount() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.idle)
}

func TestDirectReusesConnection(t *testing.T) {
	var ps peers
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		ps.seen(r)
		if r.URL.Path == "/chunked" {
			// No length: the body is chunked, and longer than a read buffer.
			io.WriteString(w, strings.Repeat("x", 3*connReadBufferBytes))
			w.(http.Flusher).Flush()
			io.WriteString(w, "end")
			return
		}
		io.WriteString(w, "ok")
	})
	tp := startPool(t, Options{Health: noChecks}, b)
	for i := range 50 {
		path := "/"
		if i%2 == 1 {
			path = "/chunked"
		}
		body, err := get(context.Background(), tp, path)
		if err != nil {
			t.Fatalf("GET %s #%d: %v", path, i, err)
		}
		if path == "/chunked" && (len(body) != 3*connReadBufferBytes+3 || !strings.HasSuffix(body, "end")) {
			t.Fatalf("GET /chunked = %d bytes; want %d ending in \"end\"", len(body), 3*connReadBufferBytes+3)
		}
	}
	if n := ps.count(); n != 1 {
		t.Errorf("50 sequential GETs used %d connections; want 1", n)
	}
	if n := tp.connsOf(t, "b").idleCount(); n != 1 {
		t.Errorf("idle connections after the GETs = %d; want 1", n)
	}
}

// TestDirectIdleClosedByTarget: a target that closed a kept-alive
// connection costs no failed request and no mark against it, for a GET
// (sent again) and for a POST (whose connection is checked first).
func TestDirectIdleClosedByTarget(t *testing.T) {
	b, ps := countingBackend(t)
	tp := startPool(t, Options{Health: noChecks}, b)
	for i, method := range []string{http.MethodGet, http.MethodGet, http.MethodPost, http.MethodGet} {
		req, _ := http.NewRequest(method, "http:///", nil)
		resp, err := tp.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s #%d after the target closed its connections: %v", method, i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The target closes every connection, the idle one included.
		b.srv.CloseClientConnections()
	}
	if st, _ := tp.Target("b"); st.Failures != 0 {
		t.Errorf("target failures = %d; want 0 (%s)", st.Failures, st.LastError)
	}
	if n := ps.count(); n != 4 {
		t.Errorf("requests used %d connections; want 4", n)
	}
}

// TestDirectIdleCheckedAfterAWhile: a connection idle for connStaleAfter
// is checked before use, so even a request that could not be sent twice
// does not go out on a closed one.
func TestDirectIdleCheckedAfterAWhile(t *testing.T) {
	b := newBackend(t, "b", nil)
	tp := startPool(t, Options{Health: noChecks}, b)
	if _, err := get(context.Background(), tp, "/"); err != nil {
		t.Fatal(err)
	}
	cs := tp.connsOf(t, "b")
	cs.mu.Lock()
	c := cs.idle[0]
	c.idleAt = c.idleAt.Add(-2 * connStaleAfter)
	cs.mu.Unlock()
	if !open(c.nc) {
		t.Fatalf("open(idle connection) = false; want true")
	}
	// On loopback the FIN is queued on our socket before close returns.
	b.srv.CloseClientConnections()
	if open(c.nc) {
		t.Fatalf("open(connection the target closed) = true; want false")
	}
	if got, err := cs.get(context.Background(), false, nil); err != nil || got == c {
		t.Fatalf("get after the target closed the idle connection = %p, %v; want a new one", got, err)
	}
}

func TestDirectResponseHeaderTooLarge(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			for i := range 20 {
				w.Header().Set("X-Big-"+string(rune('a'+i)), strings.Repeat("v", 64<<10))
			}
		}
		io.WriteString(w, "ok")
	})
	tp := startPool(t, Options{Health: noChecks, Retry: Retry{Attempts: 1}}, b)
	_, err := get(context.Background(), tp, "/big")
	if !errors.Is(err, errResponseHeaderTooLarge) {
		t.Fatalf("GET with 1.3 MiB of response header = %v; want errResponseHeaderTooLarge", err)
	}
	if body, err := get(context.Background(), tp, "/"); err != nil || body != "ok" {
		t.Fatalf("GET after the oversized header = %q, %v; want ok", body, err)
	}
}

// TestDirectBodyClosedEarly: a body closed before its end closes the
// connection (the rest cannot be skipped cheaply); the next request gets a
// new one.
func TestDirectBodyClosedEarly(t *testing.T) {
	var ps peers
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		ps.seen(r)
		io.WriteString(w, strings.Repeat("x", 1<<20))
	})
	tp := startPool(t, Options{Health: noChecks}, b)
	req, _ := http.NewRequest(http.MethodGet, "http:///", nil)
	resp, err := tp.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st, _ := tp.Target("b"); st.InFlight != 0 {
		t.Errorf("in flight after Close = %d; want 0", st.InFlight)
	}
	if n := tp.connsOf(t, "b").idleCount(); n != 0 {
		t.Errorf("idle connections after an early Close = %d; want 0", n)
	}
	if body, err := get(context.Background(), tp, "/"); err != nil || len(body) != 1<<20 {
		t.Fatalf("next GET = %d bytes, %v; want 1 MiB", len(body), err)
	}
	if n := ps.count(); n != 2 {
		t.Errorf("requests used %d connections; want 2", n)
	}
}

// TestDirectClientGoesAway: a client that cancels while the target works
// gets context.Canceled at once, and the target is not blamed.
func TestDirectClientGoesAway(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	})
	defer close(release)
	tp := startPool(t, Options{Health: noChecks}, b)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := get(ctx, tp, "/")
		errc <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("GET whose client went away = %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GET did not return 5s after its context was canceled")
	}
	if st, _ := tp.Target("b"); st.Failures != 0 {
		t.Errorf("target failures = %d; want 0", st.Failures)
	}
}

// TestDirectInformationalResponses: 103 Early Hints reach the client
// through httputil.ReverseProxy, then the final response.
func TestDirectInformationalResponses(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	})
	tp := startPool(t, Options{Health: noChecks}, b)
	front := proxy(t, tp)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, h.Get("Link"))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, front.URL, nil)
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "final" {
		t.Errorf("final response = %s %q; want 200 final", resp.Status, body)
	}
	if len(hints) != 1 || hints[0] != "</style.css>; rel=preload" {
		t.Errorf("103 responses seen = %q; want one with the Link", hints)
	}
}

func TestDirectSweepAndClose(t *testing.T) {
	b, ps := countingBackend(t)
	tp := startPool(t, Options{Health: noChecks}, b)
	if _, err := get(context.Background(), tp, "/"); err != nil {
		t.Fatal(err)
	}
	cs := tp.connsOf(t, "b")
	cs.sweep(time.Now())
	if n := cs.idleCount(); n != 1 {
		t.Fatalf("idle connections after a sweep now = %d; want 1", n)
	}
	cs.sweep(time.Now().Add(connIdleTimeout))
	if n := cs.idleCount(); n != 0 {
		t.Fatalf("idle connections after a sweep %s later = %d; want 0", connIdleTimeout, n)
	}
	if _, err := get(context.Background(), tp, "/"); err != nil {
		t.Fatal(err)
	}
	if n := ps.count(); n != 2 {
		t.Errorf("requests used %d connections; want 2", n)
	}
	if err := tp.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if n := cs.idleCount(); n != 0 {
		t.Errorf("idle connections of a removed target = %d; want 0", n)
	}
}

func TestDirectOnlyWithoutBodyOrUpgrade(t *testing.T) {
	tests := []struct {
		name string
		req  func() *http.Request
		want bool
	}{
		{"GET", func() *http.Request { r, _ := http.NewRequest("GET", "http://x/", nil); return r }, true},
		{"POST without body", func() *http.Request { r, _ := http.NewRequest("POST", "http://x/", nil); return r }, true},
		{"POST with body", func() *http.Request { r, _ := http.NewRequest("POST", "http://x/", strings.NewReader("a=1")); return r }, false},
		{"upgrade", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://x/", nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		}, false},
	}
	for _, tt := range tests {
		if got := direct(tt.req()); got != tt.want {
			t.Errorf("direct(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// TestDirectConnectionChurn: GETs from many goroutines while the target
// keeps closing its idle keep-alive connections (after every 10th answer,
// every connection idle at that moment), as servers with short keep-alive
// timeouts do under changing load. No GET fails and the target is not
// blamed: a request that meets a closed connection goes again on a new one.
func TestDirectConnectionChurn(t *testing.T) {
	var mu sync.Mutex
	idle := map[net.Conn]bool{}
	var served, closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
		if served.Add(1)%10 == 0 {
			mu.Lock()
			for c := range idle {
				c.Close()
				closed.Add(1)
			}
			mu.Unlock()
		}
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateIdle {
			idle[c] = true
		} else {
			delete(idle, c)
		}
	}
	srv.Start()
	defer srv.Close()
	p, err := NewPool(Options{App: "web", Health: noChecks, Retry: Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(Target{ID: "b", Addr: srv.Listener.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if body, err := get(context.Background(), p, "/"); err != nil || body != "ok" {
					failed.Add(1)
					t.Errorf("GET during connection churn = %q, %v", body, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 800 GETs failed while the target closed its idle connections", n)
	}
	if st, _ := p.Target("b"); st.Failures != 0 {
		t.Errorf("target failures = %d; want 0 (%s)", st.Failures, st.LastError)
	}
	if closed.Load() == 0 {
		t.Errorf("the target closed no idle connection: the test did not test")
	}
	t.Logf("the target closed %d idle connections during 800 GETs", closed.Load())
}
