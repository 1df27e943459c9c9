package cluster

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// testPrefix is the key prefix the tests use.
const testPrefix = "/tandem/test/"

// testEtcd is a one-member, plain-text etcd on loopback that a test can
// stop and start again with the same data and ports.
type testEtcd struct {
	t      *testing.T
	dir    string
	client url.URL
	peer   url.URL
	etcd   *embed.Etcd // nil while stopped
}

// startTestEtcd starts an etcd for t and returns a client of it. Both are
// closed when the test ends.
func startTestEtcd(t *testing.T) *clientv3.Client {
	return newTestEtcd(t).newClient()
}

// newTestEtcd starts an etcd in t.TempDir() on free loopback ports.
func newTestEtcd(t *testing.T) *testEtcd {
	t.Helper()
	e := &testEtcd{t: t, dir: t.TempDir(), client: freeURL(t), peer: freeURL(t)}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// freeURL returns an http URL on a free loopback port (freePort's).
func freeURL(t *testing.T) url.URL {
	t.Helper()
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))}
}

// start starts the member (again), with fast ticks so that elections and
// lease expiry take a fraction of a second.
func (e *testEtcd) start() {
	e.t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = e.dir
	cfg.ListenClientUrls = []url.URL{e.client}
	cfg.AdvertiseClientUrls = []url.URL{e.client}
	cfg.ListenPeerUrls = []url.URL{e.peer}
	cfg.AdvertisePeerUrls = []url.URL{e.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		e.t.Fatalf("start etcd: %v", err)
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(10 * time.Second):
		etcd.Close()
		e.t.Fatal("start etcd: not ready after 10s")
	}
	e.etcd = etcd
}

// stop stops the member; it may be started again.
func (e *testEtcd) stop() {
	if e.etcd != nil {
		e.etcd.Close()
		e.etcd = nil
	}
}

// newClient returns a client of the member, closed when the test ends. It
// reconnects quickly after a restart (gRPC's default back-off grows to
// two minutes).
func (e *testEtcd) newClient() *clientv3.Client {
	e.t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{e.client.String()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 300 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		e.t.Fatalf("etcd client: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// goRun runs run in a goroutine until the returned stop is called (or the
// test ends), and fails the test if run returns an error.
func goRun(t *testing.T, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v; want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitView waits until the viewer's view satisfies ok, and fails the test
// after timeout. It wakes on the viewer's change signals, and every 100ms
// for conditions on time.
func waitView(t *testing.T, v *Viewer, timeout time.Duration, what string, ok func(View) bool) View {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		view := v.View()
		if ok(view) {
			return view
		}
		select {
		case <-v.Changes():
		case <-tick.C:
		case <-deadline:
			t.Fatalf("view after %v: %s not reached; view = %+v", timeout, what, view)
		}
	}
}

// testLogger logs to the test's output.

// fixedClient is an Options.Client that always returns client.
func fixedClient(client *clientv3.Client) func() *clientv3.Client {
	return func() *clientv3.Client { return client }
}
