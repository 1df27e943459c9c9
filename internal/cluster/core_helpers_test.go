package cluster

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/testports"
)

// Raft timing for tests: short enough that elections take a fraction of a
// second, long enough not to flap on a loaded machine under -race.
const (
	testTickMs     = 50
	testElectionMs = 500
)

// freePort returns a port free on ip, below the kernel's ephemeral range,
// each once per process, from this package's range (testports.Cluster):
// a port chosen by listening on :0 can be taken by another test's
// connection before its node binds it (or binds it again, on a restart),
// and the tests run in parallel.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	return testports.Cluster.Free(t, ip)
}

// testOptions configures node name on ip with free ports and a fresh data
// directory; reopening a node reuses them.
func testOptions(t *testing.T, name, ip string) Options {
	t.Helper()
	return Options{
		Name:       "test",
		Node:       name,
		Zone:       "zone-" + name,
		Site:       "home",
		DataDir:    t.TempDir(),
		Advertise:  ip,
		PeerPort:   freePort(t, ip),
		ClientPort: freePort(t, ip),
		NodePort:   freePort(t, ip),
		TickMs:     testTickMs,
		ElectionMs: testElectionMs,
		Logger:     testLogger(t),
	}
}

// testNode is an open Cluster whose Run goroutine the test owns.
type testNode struct {
	*Cluster
	opts Options
	stop func() // cancels Run, waits for it and closes the Cluster; idempotent
}

// openNode opens a Cluster with opts, runs it, and stops it at cleanup;
// setup changes the Cluster before it opens.
func openNode(t *testing.T, opts Options, setup ...func(*Cluster)) *testNode {
	t.Helper()
	n, err := startNode(t, opts, setup...)
	if err != nil {
		t.Fatalf("open %s: %v", opts.Node, err)
	}
	return n
}

// startNode is openNode returning Open's error instead of failing.
func startNode(t *testing.T, opts Options, setup ...func(*Cluster)) (*testNode, error) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New(%s) = %v", opts.Node, err)
	}
	c.healthEvery = 100 * time.Millisecond
	for _, f := range setup {
		f(c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(runCtx); err != nil {
			t.Logf("Run(%s) = %v", opts.Node, err)
		}
	})
	var once sync.Once
	n := &testNode{Cluster: c, opts: opts, stop: func() {
		once.Do(func() {
			stopRun()
			wg.Wait()
			if err := c.Close(); err != nil {
				t.Errorf("Close(%s) = %v", opts.Node, err)
			}
		})
	}}
	t.Cleanup(n.stop)
	return n, nil
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger logs to t until the test's cleanups are done; etcd may log
// from its goroutines while it shuts down.
func testLogger(t *testing.T) *slog.Logger {
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) }) // registered first, runs last
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		if !done.Load() {
			t.Logf("%s", p)
		}
		return len(p), nil
	}), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
