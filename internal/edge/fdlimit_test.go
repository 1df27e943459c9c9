package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
)

// fdChildEnv makes the test binary run fdChild instead of the test.
const fdChildEnv = "TANDEM_EDGE_FD_CHILD"

// fdChildLimit is the child's open-file limit: small, so that a few
// hundred client connections would use it up.
const fdChildLimit = 256

// TestIdleConnectionsDoNotExhaustDescriptors: a node whose open-file
// limit is 256 keeps serving, and keeps its instances healthy, while a
// client opens 600 keep-alive connections and leaves them idle. The edge
// runs in a child process, so that its limit is not the test's.
func TestIdleConnectionsDoNotExhaustDescriptors(t *testing.T) {
	if os.Getenv(fdChildEnv) == "1" {
		fdChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnectionsDoNotExhaustDescriptors$", "-test.v=false")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var addr string
	var events []string
	for addr == "" && lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
			addr = a
		} else {
			events = append(events, lines.Text())
		}
	}
	defer func() {
		stdin.Close() // the child stops
		for lines.Scan() {
			events = append(events, lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, stderr.String())
		}
		for _, e := range events {
			if strings.HasPrefix(e, "health ") && !strings.HasSuffix(e, " healthy") {
				t.Errorf("instance health changed while clients held connections: %s", e)
			}
		}
	}()
	if addr == "" {
		t.Fatalf("child printed no address: %v\n%s", lines.Err(), stderr.String())
	}

	get := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// The instance is healthy once a request passes.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		err = get(c)
		c.Close()
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("no healthy instance: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 600 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if err := get(c); err != nil {
			t.Fatalf("GET on connection %d of 600, the others idle: %v", i, err)
		}
	}
	// The oldest idle connections made room for the newest.
	conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("oldest idle connection: read = %v; want EOF (closed to make room)", err)
	}
}

// fdChild runs an app, its pool and an edge under a small open-file
// limit, prints the edge's address and the pool's health changes, and
// stops when stdin closes.
func fdChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: fdChildLimit, Max: fdChildLimit}); err != nil {
		fail(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	pool, err := balance.NewPool(balance.Options{
		App:            "web",
		Health:         balance.HealthCheck{Path: "/", Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 2},
		OnHealthChange: func(s balance.TargetStatus) { fmt.Printf("health %s %s\n", s.ID, s.State) },
	})
	if err != nil {
		fail(err)
	}
	s, err := New(Options{Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": pool}, Routes: []Route{{App: "web"}}})
	if err != nil {
		fail(err)
	}
	if err := s.Listen(); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- pool.Run(ctx) }()
	go func() { done <- s.Run(ctx) }()
	fmt.Printf("addr %s\n", s.Addrs()[0])
	if err := pool.Add(balance.Target{ID: "web-1", Addr: app.Listener.Addr().String()}); err != nil {
		fail(err)
	}
	io.Copy(io.Discard, os.Stdin)
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			fail(err)
		}
	}
}
