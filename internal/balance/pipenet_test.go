package balance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipeNet is a set of in-memory targets for tests of timed logic in a
// testing/synctest bubble: the pool dials them through net.Pipe, so that
// every wait is on the bubble's fake clock, and each target serves HTTP/1.1
// with its current behaviour.
type pipeNet struct {
	targets map[string]*pipeTarget // by address; fixed once made
	wg      sync.WaitGroup         // serving goroutines
}

// pipeTarget is one in-memory target. It answers its name after delay, or
// never when delay is negative (it reads the request, then waits for the
// connection to close, as a stopped process's socket would).
type pipeTarget struct {
	name  string
	delay atomic.Int64 // time.Duration
	got   atomic.Int64 // requests read
	body  atomic.Value // string: the body of the last request
}

// hang is a pipeTarget delay that never answers.
const hang = -1

func newPipeNet(names ...string) *pipeNet {
	n := &pipeNet{targets: make(map[string]*pipeTarget)}
	for _, name := range names {
		n.targets[name+":80"] = &pipeTarget{name: name}
	}
	return n
}

func (n *pipeNet) target(name string) *pipeTarget { return n.targets[name+":80"] }

func (n *pipeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	tg, ok := n.targets[addr]
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no target at %s", addr)}
	}
	client, server := net.Pipe()
	n.wg.Go(func() { tg.serve(server) })
	return client, nil
}

func (tg *pipeTarget) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		tg.body.Store(string(body))
		tg.got.Add(1)
		d := time.Duration(tg.delay.Load())
		if d < 0 {
			br.ReadByte() // until the pool closes the connection
			return
		}
		time.Sleep(d)
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(tg.name), tg.name); err != nil {
			return
		}
	}
}

// pool returns a pool over n's targets, without active health checks, that
// dials through n. It closes the pool's connections at the end of the test
// and waits for n's serving goroutines, as the bubble requires.
func (n *pipeNet) pool(t *testing.T, opts Options) *Pool {
	t.Helper()
	opts.App = "web"
	opts.Health = HealthCheck{}
	opts.DialContext = n.dial
	p, err := NewPool(opts)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	for _, tg := range n.targets {
		if err := p.Add(Target{ID: tg.name, Addr: tg.name + ":80"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, tg := range *p.targets.Load() {
			tg.conns.close()
		}
		p.ownTrans.CloseIdleConnections()
		n.wg.Wait()
	})
	return p
}

// busy makes target id look busy to selection, so that power of two
// choices always prefers another, until the test ends.
func busy(t *testing.T, p *Pool, id string) {
	tg, err := p.lookup("busy", id)
	if err != nil {
		t.Fatal(err)
	}
	tg.inflight.Add(1000)
	t.Cleanup(func() { tg.inflight.Add(-1000) })
}
