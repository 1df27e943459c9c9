package balance

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// peer is another node's node-to-node listener on loopback: HTTPS, serving
// the requests forwarded to it through its own pool's LocalTransport, as
// the cluster's listener does.
type peer struct {
	srv    *httptest.Server
	pool   *testPool
	hits   atomic.Int64 // requests forwarded to it
	badApp atomic.Int64 // requests whose AppHeader was not exactly "web"
}

// newPeer starts a peer in zone b whose pool balances over backends.
func newPeer(t *testing.T, backends ...*backend) *peer {
	t.Helper()
	pr := &peer{pool: startPool(t, Options{Zone: "b"}, backends...)}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL.Scheme = "http" },
		Transport: pr.pool.LocalTransport(),
	}
	pr.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr.hits.Add(1)
		if got := r.Header.Values(AppHeader); !slices.Equal(got, []string{"web"}) {
			pr.badApp.Add(1)
			t.Errorf("peer got %s %q; want [web]", AppHeader, got)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(pr.srv.Close)
	return pr
}

// target is the peer as a Remote target of another node's pool.
func (pr *peer) target(zone string) Target {
	return Target{ID: "node-b", Addr: pr.srv.Listener.Addr().String(), Zone: zone, Remote: true}
}

// transport is a client transport trusting the peer's certificate, as the
// cluster's client transport trusts the cluster CA.
func (pr *peer) transport() http.RoundTripper { return pr.srv.Client().Transport }

// appBackend returns a backend that answers its name and counts in leaks
// the requests that reached it with an AppHeader.
func appBackend(t *testing.T, name string, leaks *atomic.Int64) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		if r.Header[AppHeader] != nil {
			leaks.Add(1)
			t.Errorf("%s got %s %q; want none", name, AppHeader, r.Header.Values(AppHeader))
		}
		io.WriteString(w, name)
	})
}

// TestLocalZoneDiesRemoteServes kills both local instances under
// concurrent load: every GET must still succeed, served by the other node
// through its node-to-node listener. A client-sent AppHeader reaches no
// instance, and the other node sees the pool's.
func TestLocalZoneDiesRemoteServes(t *testing.T) {
	var leaks atomic.Int64
	pr := newPeer(t, appBackend(t, "b-1", &leaks))
	locals := []*backend{appBackend(t, "a-1", &leaks), appBackend(t, "a-2", &leaks)}
	tp := startPool(t, Options{Zone: "a", RemoteTransport: pr.transport()}, locals...)
	if err := tp.Add(pr.target("b")); err != nil {
		t.Fatal(err)
	}
	front := proxy(t, tp)

	const workers, total, killAt = 8, 400, 100
	remoteBeforeKill := int64(-1)
	failed := loadGET(t, front.URL+"/", http.Header{AppHeader: {"admin"}}, workers, total, killAt, func() {
		remoteBeforeKill = pr.hits.Load()
		locals[0].kill()
		locals[1].kill()
	})
	if failed != 0 {
		t.Fatalf("%d of %d GETs failed; want 0", failed, total)
	}
	if n := remoteBeforeKill; n != 0 {
		t.Errorf("the remote node got %d requests while the local zone was healthy and not saturated; want 0", n)
	}
	if n := pr.hits.Load(); n < total-killAt-workers {
		t.Errorf("the remote node got %d requests; want at least %d after the local zone died", n, total-killAt-workers)
	}
	if n := leaks.Load(); n != 0 {
		t.Errorf("%d requests reached an instance with %s; want 0", n, AppHeader)
	}
	if n := pr.badApp.Load(); n != 0 {
		t.Errorf("%d requests reached the remote node without %s: web; want 0", n, AppHeader)
	}
	st, _ := tp.Target("node-b")
	t.Logf("hits: a-1 %d, a-2 %d, node-b %d (%d attempts, %d failed)",
		locals[0].hits.Load(), locals[1].hits.Load(), pr.hits.Load(), st.Requests, st.Failures)
}

func TestSetHealthOfRemote(t *testing.T) {
	pr := newPeer(t, newBackend(t, "b-1", nil))
	local := newBackend(t, "a-1", nil)
	tp := startPool(t, Options{Zone: "a", RemoteTransport: pr.transport()}, local)
	if err := tp.Add(pr.target("b")); err != nil {
		t.Fatal(err)
	}
	local.healthy.Store(false)
	tp.waitState(t, "a-1", StateUnhealthy)
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "b-1" {
		t.Fatalf("GET with the local zone down = %q, %v; want b-1 through the remote node", got, err)
	}

	if err := tp.SetHealth("node-b", false); err != nil {
		t.Fatalf("SetHealth(node-b, false) = %v", err)
	}
	tp.waitState(t, "node-b", StateUnhealthy)
	before := pr.hits.Load()
	if _, err := get(context.Background(), tp, "/"); !errors.Is(err, ErrNoTarget) {
		t.Errorf("GET with the remote node unhealthy = %v; want ErrNoTarget", err)
	}
	if n := pr.hits.Load() - before; n != 0 {
		t.Errorf("the unhealthy remote node got %d requests; want 0", n)
	}
	if err := tp.SetHealth("node-b", true); err != nil {
		t.Fatalf("SetHealth(node-b, true) = %v", err)
	}
	tp.waitState(t, "node-b", StateHealthy)
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "b-1" {
		t.Errorf("GET with the remote node healthy again = %q, %v; want b-1", got, err)
	}

	if err := tp.SetHealth("a-1", true); !errors.Is(err, ErrNotRemote) {
		t.Errorf("SetHealth(a-1) = %v; want ErrNotRemote", err)
	}
	if err := tp.SetHealth("nope", true); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("SetHealth(nope) = %v; want ErrUnknownTarget", err)
	}
	var remote []string
	for _, st := range tp.Targets() {
		if st.Remote {
			remote = append(remote, st.ID)
		}
	}
	if !slices.Equal(remote, []string{"node-b"}) {
		t.Errorf("remote targets in Targets() = %q; want [node-b]", remote)
	}
}

func TestRemoteTargetPassiveEjection(t *testing.T) {
	pr := newPeer(t, newBackend(t, "b-1", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	tp := startPool(t, Options{Zone: "a", RemoteTransport: pr.transport(), Passive: PassiveHealth{BaseEjection: time.Minute}})
	if err := tp.Add(pr.target("b")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := get(context.Background(), tp, "/"); err == nil {
			t.Fatal("GET answered by a failing node succeeded")
		}
	}
	tp.waitState(t, "node-b", StateEjected)
}

func TestAddValidatesTarget(t *testing.T) {
	withRemote := startPool(t, Options{RemoteTransport: http.DefaultTransport})
	without := startPool(t, Options{})
	tests := []struct {
		name string
		p    *testPool
		tg   Target
		want string
	}{
		{"remote without a remote transport", without, Target{ID: "node-b", Addr: "127.0.0.1:1", Remote: true}, "remote transport"},
		{"negative weight", withRemote, Target{ID: "node-b", Addr: "127.0.0.1:1", Remote: true, Weight: -1}, "weight -1"},
		{"huge weight", withRemote, Target{ID: "node-b", Addr: "127.0.0.1:1", Remote: true, Weight: maxWeight + 1}, "must be between"},
	}
	for _, tc := range tests {
		if err := tc.p.Add(tc.tg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%q) = %v; want an error about %s", tc.name, err, tc.want)
		}
	}
}

func TestSetWeight(t *testing.T) {
	tp := startPool(t, Options{Health: noChecks, RemoteTransport: http.DefaultTransport})
	if err := tp.Add(Target{ID: "node-b", Addr: "127.0.0.1:1", Remote: true, Weight: 3}); err != nil {
		t.Fatal(err)
	}
	if err := tp.Add(Target{ID: "web-1", Addr: "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	weights := func() map[string]int {
		m := map[string]int{}
		for _, st := range tp.Targets() {
			m[st.ID] = st.Weight
		}
		return m
	}
	if got := weights(); got["node-b"] != 3 || got["web-1"] != 1 {
		t.Errorf("weights after Add = %v; want node-b 3, web-1 1", got)
	}
	if err := tp.SetWeight("node-b", 5); err != nil {
		t.Fatal(err)
	}
	if err := tp.SetWeight("web-1", 0); err != nil {
		t.Fatal(err)
	}
	if got := weights(); got["node-b"] != 5 || got["web-1"] != 1 {
		t.Errorf("weights after SetWeight = %v; want node-b 5, web-1 1", got)
	}
	if err := tp.SetWeight("node-b", -1); err == nil {
		t.Errorf("SetWeight(node-b, -1) = nil; want an error")
	}
	if err := tp.SetWeight("nope", 2); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("SetWeight(nope, 2) = %v; want ErrUnknownTarget", err)
	}
}

// holdingBackend answers /hold with headers at once and the rest of its
// body only when release closes: the request stays in flight until then.
// Other paths get its name.
func holdingBackend(t *testing.T, name string, release <-chan struct{}) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hold" {
			io.WriteString(w, name)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
}

// hold sends n GETs of /hold through rt and returns their responses,
// whose bodies stay open until the backend releases them.
func hold(t *testing.T, rt http.RoundTripper, n int) []*http.Response {
	t.Helper()
	var resps []*http.Response
	for range n {
		req, _ := http.NewRequest(http.MethodGet, "http:///hold", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET /hold: %v", err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		resps = append(resps, resp)
	}
	return resps
}

// TestSpillOnSaturation holds requests open on the only local instance:
// once it has SpillInFlight of them, the next request goes to the idle
// remote node, unless spilling is off.
func TestSpillOnSaturation(t *testing.T) {
	tests := []struct {
		spill int
		want  string
	}{
		{2, "b-1"},
		{-1, "a-1"},
	}
	for _, tc := range tests {
		release := make(chan struct{})
		pr := newPeer(t, newBackend(t, "b-1", nil))
		local := holdingBackend(t, "a-1", release)
		t.Cleanup(func() { close(release) }) // before the servers close
		tp := startPool(t, Options{Zone: "a", SpillInFlight: tc.spill, RemoteTransport: pr.transport()}, local)
		if err := tp.Add(pr.target("b")); err != nil {
			t.Fatal(err)
		}
		hold(t, tp, 2)
		if n := local.hits.Load(); n != 2 {
			t.Fatalf("SpillInFlight %d: %d of 2 held requests reached the local instance; want 2 (local first)", tc.spill, n)
		}
		if got, err := get(context.Background(), tp, "/"); err != nil || got != tc.want {
			t.Errorf("SpillInFlight %d: GET with 2 in flight locally = %q, %v; want %s", tc.spill, got, err, tc.want)
		}
	}
}

// TestLocalTransportNeverRemote: a node serving forwarded requests uses
// only its own instances, even when the pool itself would spill to another
// node or fall back to it.
func TestLocalTransportNeverRemote(t *testing.T) {
	release := make(chan struct{})
	pr := newPeer(t, newBackend(t, "b-1", nil))
	local := holdingBackend(t, "a-1", release)
	t.Cleanup(func() { close(release) })
	tp := startPool(t, Options{Zone: "a", SpillInFlight: 1, RemoteTransport: pr.transport()}, local)
	// In the same zone and idle: the pool's own view would prefer it.
	if err := tp.Add(pr.target("a")); err != nil {
		t.Fatal(err)
	}
	lt := tp.LocalTransport()
	hold(t, lt, 1) // saturates a-1
	for i := range 20 {
		if got, err := get(context.Background(), lt, "/"); err != nil || got != "a-1" {
			t.Fatalf("local GET %d = %q, %v; want a-1", i, got, err)
		}
	}
	if n := pr.hits.Load(); n != 0 {
		t.Fatalf("the remote node got %d requests through LocalTransport; want 0", n)
	}
	// The pool's own view does spill: the test would have seen a leak.
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "b-1" {
		t.Errorf("pool GET with a-1 saturated = %q, %v; want b-1 through the remote node", got, err)
	}

	local.healthy.Store(false)
	tp.waitState(t, "a-1", StateUnhealthy)
	before := pr.hits.Load()
	if _, err := get(context.Background(), lt, "/"); !errors.Is(err, ErrNoTarget) {
		t.Errorf("local GET with no local instance = %v; want ErrNoTarget", err)
	}
	if n := pr.hits.Load() - before; n != 0 {
		t.Errorf("the remote node got %d requests through LocalTransport; want 0", n)
	}
}
