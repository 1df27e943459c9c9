package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// pipeListener is a listener of in-memory connections (net.Pipe), so that
// an edge and its app can run inside a testing/synctest bubble: their
// deadlines and timers run on the bubble's clock, and synctest.Wait
// returns when every goroutine waits on a connection.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener.
func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// bubble is an edge in front of one app ("web", route "/"), both served
// over pipes. Start it inside a synctest bubble; close it before the
// bubble's function returns.
type bubble struct {
	edge      *Server
	log       *lockedBuffer // the access log
	events    *lockedBuffer // the edge's own log, as text
	edgeLn    *pipeListener
	appLn     *pipeListener
	edgeSrv   *http.Server
	appSrv    *http.Server
	transport *http.Transport
	served    sync.WaitGroup
}

// startBubble starts the app's server and the edge; mod adjusts the
// edge's options (Routes and Upstreams are set already).
func startBubble(t *testing.T, app http.Handler, mod func(*Options)) *bubble {
	t.Helper()
	b := &bubble{log: new(lockedBuffer), events: new(lockedBuffer), edgeLn: newPipeListener(), appLn: newPipeListener()}
	b.transport = &http.Transport{DialContext: b.appLn.DialContext}
	o := Options{
		Listen:    "127.0.0.1:0",
		Upstreams: map[string]http.RoundTripper{"web": b.transport},
		Routes:    []Route{{Path: "/", App: "web"}},
		AccessLog: b.log,
		Logger:    slog.New(slog.NewTextHandler(b.events, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	b.edge = s
	b.appSrv = &http.Server{Handler: app}
	b.edgeSrv = s.newHTTPServer(nil)
	b.served.Go(func() { b.appSrv.Serve(b.appLn) })
	b.served.Go(func() { b.edgeSrv.Serve(b.edgeLn) })
	return b
}

// close stops both servers and waits for them.
func (b *bubble) close() {
	b.edgeSrv.Close()
	b.appSrv.Close()
	b.transport.CloseIdleConnections()
	b.served.Wait()
	// A connection closed after an error lingers half a second in
	// net/http (closeWriteAndWait): on the bubble's clock, at once.
	time.Sleep(time.Second)
}

// dial opens a client connection to the edge.
func (b *bubble) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := b.edgeLn.DialContext(t.Context(), "pipe", "edge")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange writes raw to a new connection and returns the response read
// from it, with the connection (left open).
func (b *bubble) exchange(t *testing.T, raw string) (*http.Response, net.Conn) {
	t.Helper()
	c := b.dial(t)
	go io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		t.Fatalf("read response to %q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read response body: %v", err)
	}
	resp.Body = io.NopCloser(&bodyText{s: string(body)})
	return resp, c
}

// bodyText holds a response body already read.
type bodyText struct{ s string }

func (b *bodyText) Read(p []byte) (int, error) {
	if b.s == "" {
		return 0, io.EOF
	}
	n := copy(p, b.s)
	b.s = b.s[n:]
	return n, nil
}

// text returns a response body read by exchange.
func text(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
