package edge

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// limitedEdge runs an edge allowing max client connections in front of
// app, over TLS if cert is set; it returns the edge and a dialer.
func limitedEdge(t *testing.T, app http.Handler, max int, useTLS bool) (*Server, func() net.Conn, *lockedBuffer) {
	t.Helper()
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	events := new(lockedBuffer)
	var clientTLS *tls.Config
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{srv.Listener.Addr().String()}}, []Route{{App: "web"}},
		func(o *Options) {
			o.MaxConnections = max
			o.Logger = slog.New(slog.NewTextHandler(events, nil))
			if useTLS {
				certSrv := httptest.NewUnstartedServer(nil)
				certSrv.StartTLS() // only for its certificate
				certSrv.Close()
				dir := t.TempDir()
				writePEM(t, dir+"/cert.pem", dir+"/key.pem", certSrv)
				clientTLS = certSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				clientTLS.ServerName = "example.com" // a name of httptest's certificate
				o.Listen = ""
				o.TLS = &TLSOptions{Listen: "127.0.0.1:0", CertFile: dir + "/cert.pem", KeyFile: dir + "/key.pem"}
			}
		})
	addr := runEdge(t, s)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if useTLS {
			tc := tls.Client(c, clientTLS)
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			return tc
		}
		return c
	}
	return s, dial, events
}

// get sends a GET on c and returns the status, or an error if the
// connection was closed.
func get(c net.Conn, br *bufio.Reader) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFor polls cond for up to 10s: for states that a server reaches on
// its own goroutines once the client has its answer.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// idleCount returns how many connections the limit holds as idle.
func idleCount(l *connLimit) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := l.idle.head; c != nil; c = c.next {
		n++
	}
	return n
}

// TestConnLimitClosesTheLongestIdle: at the limit, a new connection is
// served, and the connection idle the longest is closed to make room:
// over plain HTTP and over TLS.
func TestConnLimitClosesTheLongestIdle(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			s, dial, events := limitedEdge(t, app, 3, useTLS)
			conns := make([]net.Conn, 4)
			brs := make([]*bufio.Reader, 4)
			for i := range 3 {
				conns[i] = dial()
				brs[i] = bufio.NewReader(conns[i])
				if st, err := get(conns[i], brs[i]); err != nil || st != 200 {
					t.Fatalf("GET on connection %d: %d, %v", i, st, err)
				}
				// The server marks a connection idle after the client has its
				// answer: wait, so that they are idle in order.
				waitFor(t, "connection idle", func() bool { return idleCount(s.conns) == i+1 })
			}
			// Connection 0 is used again: connection 1 is now the longest idle.
			if st, err := get(conns[0], brs[0]); err != nil || st != 200 {
				t.Fatalf("GET again on connection 0: %d, %v", st, err)
			}
			waitFor(t, "connection 0 idle again", func() bool { return idleCount(s.conns) == 3 })
			conns[3] = dial()
			brs[3] = bufio.NewReader(conns[3])
			if st, err := get(conns[3], brs[3]); err != nil || st != 200 {
				t.Fatalf("GET on a connection past the limit: %d, %v; want 200", st, err)
			}
			if _, err := get(conns[1], brs[1]); err == nil {
				t.Error("the longest idle connection (1) still serves; want it closed")
			}
			for _, i := range []int{0, 2} {
				if st, err := get(conns[i], brs[i]); err != nil || st != 200 {
					t.Errorf("GET on connection %d, not the longest idle: %d, %v; want 200", i, st, err)
				}
			}
			st := s.Connections()
			if st.Limit != 3 || st.Open > 3 || st.LimitReached != 1 || st.IdleClosed != 1 {
				t.Errorf("Connections() = %+v; want limit 3, at most 3 open, reached once, 1 idle closed", st)
			}
			if !strings.Contains(events.b.String(), "edge connection limit reached") {
				t.Errorf("no log line for the limit reached: %s", events.b.String())
			}
		})
	}
}

// TestConnLimitWaitsWhileAllAreBusy: with every connection in a request,
// a new one waits in the backlog (its request is not failed) until one
// of them turns idle; that one is then closed to make room.
func TestConnLimitWaitsWhileAllAreBusy(t *testing.T) {
	release := make(chan struct{})
	var inApp atomic.Int32
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inApp.Add(1)
		defer inApp.Add(-1)
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, "ok")
	})
	s, dial, _ := limitedEdge(t, app, 2, false)
	type result struct {
		status int
		err    error
	}
	hold := func(c net.Conn) chan result {
		ch := make(chan result, 1)
		go func() {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				ch <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			ch <- result{status: resp.StatusCode}
		}()
		return ch
	}
	c1, c2 := dial(), dial()
	r1, r2 := hold(c1), hold(c2)
	waitFor(t, "2 requests in the app", func() bool { return inApp.Load() == 2 })

	c3 := dial() // the kernel accepts it; the edge does not yet
	r3 := make(chan result, 1)
	go func() {
		st, err := get(c3, bufio.NewReader(c3))
		r3 <- result{st, err}
	}()
	waitFor(t, "the limit reached", func() bool { return s.Connections().LimitReached == 1 })
	if n := inApp.Load(); n != 2 {
		t.Fatalf("%d requests in the app; want 2 (the third waits for a connection slot)", n)
	}
	release <- struct{}{} // one held request ends; its connection turns idle and is closed for c3
	got := <-r3
	if got.err != nil || got.status != 200 {
		t.Errorf("request that waited for a slot: %d, %v; want 200", got.status, got.err)
	}
	close(release)
	for _, r := range []chan result{r1, r2} {
		if got := <-r; got.err != nil || got.status != 200 {
			t.Errorf("held request: %d, %v; want 200", got.status, got.err)
		}
	}
	if st := s.Connections(); st.IdleClosed != 1 {
		t.Errorf("Connections() = %+v; want 1 idle connection closed", st)
	}
}

// TestConnLimitLogsAtABoundedRate: the limit reached many times is
// logged once a minute, with the number of times not logged.
func TestConnLimitLogsAtABoundedRate(t *testing.T) {
	events := new(lockedBuffer)
	l := newConnLimit(1, slog.New(slog.NewTextHandler(events, nil)))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	closed := make(chan struct{})
	close(closed) // an acquire at the limit gives up at once
	l.acquire(closed)
	for range 5 {
		if l.acquire(closed) {
			t.Fatal("acquire past the limit succeeded")
		}
	}
	now = now.Add(time.Minute)
	l.acquire(closed)
	out := events.b.String()
	if n := strings.Count(out, "edge connection limit reached"); n != 2 {
		t.Errorf("%d log lines for 6 times the limit was reached over a minute; want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "not_logged=4") {
		t.Errorf("second line does not count the 4 not logged:\n%s", out)
	}
}

// TestDefaultMaxConnections: half the open-file limit, within bounds.
func TestDefaultMaxConnections(t *testing.T) {
	tests := []struct {
		fds  uint64
		want int
	}{
		{256, 128}, {1024, 512}, {20000, 10000}, {10, minDefaultConnections}, {1 << 40, maxDefaultConnections},
	}
	for _, tt := range tests {
		if got := defaultMaxConnections(tt.fds); got != tt.want {
			t.Errorf("defaultMaxConnections(%d) = %d; want %d", tt.fds, got, tt.want)
		}
	}
	// Go raises the soft limit to (one below) the hard limit at start.
	limit, err := openFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if limit != rl.Cur || rl.Cur+1 < rl.Max {
		t.Errorf("open file limit %d, rlimit %+v; want the soft limit raised to the hard one", limit, rl)
	}
}
