package balance

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestUpgradeThroughReverseProxy: a 101 Switching Protocols response keeps
// its writable body through the pool, so httputil.ReverseProxy can tunnel
// the upgraded connection (WebSockets). The tunnel counts as in flight until
// it closes.
func TestUpgradeThroughReverseProxy(t *testing.T) {
	echo := newBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(conn, brw) // echo until the client closes
	})
	tp := startPool(t, Options{}, echo)
	front := proxy(t, tp)

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: example.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("upgrade through the proxy = %s %q; want 101", resp.Status, body)
	}
	for _, msg := range []string{"hello\n", "world\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo of %q = %q, %v", msg, got, err)
		}
	}
	if st, _ := tp.Target("ws"); st.InFlight != 1 {
		t.Errorf("open tunnel counts %d in flight; want 1", st.InFlight)
	}
	conn.Close()
	// The proxy closes its side of the tunnel, which releases the target.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Drain(ctx, "ws"); err != nil {
		t.Errorf("Drain after the tunnel closed = %v; want nil", err)
	}
}
