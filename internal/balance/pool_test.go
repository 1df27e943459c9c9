package balance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewPoolValidates(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{}, "app: must not be empty"},
		{Options{App: "web", Health: HealthCheck{Path: "healthz"}}, "health.path"},
		{Options{App: "web", Health: HealthCheck{Path: "/h", Interval: -1}}, "health.interval"},
		{Options{App: "web", Retry: Retry{Attempts: 11}}, "retry.attempts"},
		{Options{App: "web", Passive: PassiveHealth{BaseEjection: time.Minute, MaxEjection: time.Second}}, "passive.max_ejection"},
	}
	for _, tc := range tests {
		_, err := NewPool(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPool(%+v) = %v; want an error about %s", tc.opts, err, tc.want)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	p, err := NewPool(Options{App: "web", Health: fastHealth})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b := newBackend(t, "web-1", nil)
	if err := p.Add(b.target("")); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(b.target("")); !errors.Is(err, ErrTargetExists) {
		t.Errorf("Add of an existing ID = %v; want ErrTargetExists", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Errorf("second Run = nil; want an error")
	}
	if err := p.Remove("nope"); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("Remove(nope) = %v; want ErrUnknownTarget", err)
	}
}

func TestNoTarget(t *testing.T) {
	tp := startPool(t, Options{})
	_, err := get(context.Background(), tp, "/")
	if !errors.Is(err, ErrNoTarget) {
		t.Errorf("GET on an empty pool = %v; want ErrNoTarget", err)
	}
}

func TestReadinessIsHealth(t *testing.T) {
	b := newBackend(t, "web-1", nil)
	b.healthy.Store(false)
	tp := startPool(t, Options{Health: HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Rise: 2}})
	if err := tp.Add(b.target("")); err != nil {
		t.Fatal(err)
	}
	// The port is bound and serves, but health does not pass yet.
	if _, err := get(context.Background(), tp, "/"); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("GET before the target is healthy = %v; want ErrNoTarget", err)
	}
	if st, _ := tp.Target("web-1"); st.State != StateStarting {
		t.Errorf("target before health passes is %v; want starting", st.State)
	}
	b.healthy.Store(true)
	tp.waitState(t, "web-1", StateHealthy)
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "web-1" {
		t.Fatalf("GET after health rose = %q, %v; want web-1", got, err)
	}

	// The process restarted: not eligible until health rises again.
	b.healthy.Store(false)
	if err := tp.Reset("web-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(context.Background(), tp, "/"); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("GET after Reset = %v; want ErrNoTarget", err)
	}
	b.healthy.Store(true)
	tp.waitState(t, "web-1", StateHealthy)

	var seen []State
	for len(tp.events) > 0 {
		seen = append(seen, (<-tp.events).State)
	}
	want := []State{StateHealthy, StateStarting, StateHealthy}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Errorf("OnHealthChange states = %v; want %v", seen, want)
	}
}

// TestKilledBackendGETsRetried kills one of three instances under load: every
// GET must still succeed, retried on the survivors.
func TestKilledBackendGETsRetried(t *testing.T) {
	bs := []*backend{newBackend(t, "web-1", nil), newBackend(t, "web-2", nil), newBackend(t, "web-3", nil)}
	tp := startPool(t, Options{}, bs...)
	front := proxy(t, tp)

	const workers, total, killAt = 8, 800, 200
	var hitsAtKill int64
	failed := loadGET(t, front.URL+"/", nil, workers, total, killAt, func() {
		hitsAtKill = bs[0].hits.Load()
		bs[0].kill()
	})
	if failed != 0 {
		t.Fatalf("%d of %d GETs failed; want 0", failed, total)
	}
	if hitsAtKill == 0 {
		t.Errorf("the killed backend got no request before it died")
	}
	st, _ := tp.Target("web-1")
	if st.State == StateHealthy {
		t.Errorf("the killed backend is still %v", st.State)
	}
	t.Logf("hits: %d (killed at %d), %d, %d; %d attempts on the killed backend failed and were retried",
		bs[0].hits.Load(), hitsAtKill, bs[1].hits.Load(), bs[2].hits.Load(), st.Failures)
}

// TestPOSTToDyingBackendNotRetried: a POST that reached an instance which
// then died must fail, not be sent to another instance, and not hang.
func TestPOSTToDyingBackendNotRetried(t *testing.T) {
	// With a body the body was read; without one only the method forbids
	// a retry.
	for _, payload := range []string{"buy 1", ""} {
		t.Run("body="+payload, func(t *testing.T) { testPOSTToDyingBackend(t, payload) })
	}
}

func testPOSTToDyingBackend(t *testing.T, payload string) {
	arrived := make(chan string, 2)
	release := make(chan struct{})
	var posts [2]atomic.Int64
	handler := func(i int, name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			posts[i].Add(1)
			arrived <- name
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}
	bs := []*backend{newBackend(t, "web-1", handler(0, "web-1")), newBackend(t, "web-2", handler(1, "web-2"))}
	t.Cleanup(func() { close(release) }) // before the servers close
	tp := startPool(t, Options{}, bs...)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		var body io.Reader
		if payload != "" {
			body = strings.NewReader(payload)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http:///order", body)
		resp, err := tp.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	victim := <-arrived
	for _, b := range bs {
		if b.name == victim {
			b.kill()
		}
	}
	err := <-errc
	if ctx.Err() != nil {
		t.Fatalf("POST did not return until its deadline: %v", err)
	}
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Target != victim || ue.Attempts != 1 {
		t.Fatalf("POST to a dying backend = %v; want an *UpstreamError from %s after 1 attempt", err, victim)
	}
	if errors.Is(err, ErrUpstreamTimeout) || errors.Is(err, ErrNoTarget) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("POST error %v maps to 503/504; want 502", err)
	}
	if n := posts[0].Load() + posts[1].Load(); n != 1 {
		t.Errorf("POST reached backends %d times; want 1 (no retry)", n)
	}
}

// TestDialErrorRetriesAnyMethod: when a connection cannot be made nothing
// was sent, so even a POST with a body is retried, with its body intact.
func TestDialErrorRetriesAnyMethod(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	tp := startPool(t, Options{
		Health:  noChecks, // both targets are eligible at once
		Passive: PassiveHealth{ConsecutiveErrors: -1, Consecutive5xx: -1},
	}, echo)
	if err := tp.Add(Target{ID: "dead", Addr: deadAddr}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		want := "payload " + strings.Repeat("x", i)
		req, _ := http.NewRequest(http.MethodPost, "http:///", strings.NewReader(want))
		resp, err := tp.RoundTrip(req)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Fatalf("POST %d echoed %q; want %q", i, got, want)
		}
	}
	if st, _ := tp.Target("dead"); st.Failures == 0 {
		t.Errorf("no POST was tried on the dead target first; the test proved nothing")
	}
}

// hangingBackend returns a backend that, once hang is set, accepts requests
// (health checks included) and never answers them.
func hangingBackend(t *testing.T, name string) (*backend, *atomic.Bool) {
	var hang atomic.Bool
	b := newBackend(t, name, nil)
	inner := b.srv.Config.Handler
	b.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			if r.URL.Path != "/healthz" {
				b.hits.Add(1)
			}
			<-r.Context().Done()
			return
		}
		inner.ServeHTTP(w, r)
	})
	return b, &hang
}

func TestHungBackendGoesUnhealthy(t *testing.T) {
	hung, hang := hangingBackend(t, "hung")
	good := newBackend(t, "good", nil)
	tp := startPool(t, Options{Health: HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 2}}, hung, good)
	hang.Store(true)
	tp.waitState(t, "hung", StateUnhealthy)
	if st, _ := tp.Target("hung"); !strings.Contains(st.LastError, "no answer within") {
		t.Errorf("hung target's last error = %q; want a check timeout", st.LastError)
	}
	before := hung.hits.Load()
	for i := range 50 {
		got, err := get(context.Background(), tp, "/")
		if err != nil || got != "good" {
			t.Fatalf("GET %d = %q, %v; want good", i, got, err)
		}
	}
	if n := hung.hits.Load() - before; n != 0 {
		t.Errorf("the unhealthy target got %d new requests; want 0", n)
	}
}

func TestUpstreamTimeoutNotRetried(t *testing.T) {
	h1, hang1 := hangingBackend(t, "h1")
	h2, hang2 := hangingBackend(t, "h2")
	tp := startPool(t, Options{Health: noChecks, UpstreamTimeout: 100 * time.Millisecond}, h1, h2)
	hang1.Store(true)
	hang2.Store(true)
	_, err := get(context.Background(), tp, "/")
	if !errors.Is(err, ErrUpstreamTimeout) {
		t.Fatalf("GET to a hung target = %v; want ErrUpstreamTimeout", err)
	}
	if n := h1.hits.Load() + h2.hits.Load(); n != 1 {
		t.Errorf("a timed-out GET was sent %d times; want 1", n)
	}
}

func TestClientDeadlineIsNotTargetFailure(t *testing.T) {
	h, hang := hangingBackend(t, "h")
	tp := startPool(t, Options{Health: noChecks, Passive: PassiveHealth{ConsecutiveErrors: 1}}, h)
	hang.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := get(ctx, tp, "/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET past the client's deadline = %v; want context.DeadlineExceeded", err)
	}
	if st, _ := tp.Target("h"); st.Failures != 0 || st.State != StateHealthy || st.InFlight != 0 {
		t.Errorf("after the client's deadline the target is %v with %d failures, %d in flight; want healthy, 0, 0", st.State, st.Failures, st.InFlight)
	}
}

func TestPassiveEjection(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	good := newBackend(t, "good", nil)
	tp := startPool(t, Options{Passive: PassiveHealth{BaseEjection: time.Minute}}, bad, good)
	for range 50 {
		req, _ := http.NewRequest(http.MethodGet, "http:///", nil)
		resp, err := tp.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := bad.hits.Load(); n != 5 {
		t.Errorf("the failing target got %d requests; want 5 (ejected after 5 consecutive 5xx)", n)
	}
	tp.waitState(t, "bad", StateEjected)
	if st, _ := tp.Target("bad"); st.EjectedUntil.Before(time.Now().Add(50*time.Second)) || st.Failures != 5 {
		t.Errorf("ejected target: until %v, %d failures; want about a minute from now, 5", st.EjectedUntil, st.Failures)
	}
}

func TestDrainWaitsForInFlight(t *testing.T) {
	arrived := make(chan string, 1)
	release := make(chan struct{})
	slow := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/slow" {
				io.WriteString(w, name)
				return
			}
			// Headers now, the rest later: the request stays in flight
			// until the body is read and closed.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			arrived <- name
			<-release
			io.WriteString(w, "done")
		}
	}
	bs := []*backend{newBackend(t, "web-1", slow("web-1")), newBackend(t, "web-2", slow("web-2"))}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	tp := startPool(t, Options{}, bs...)

	req, _ := http.NewRequest(http.MethodGet, "http:///slow", nil)
	resp, err := tp.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	victim := <-arrived
	other := map[string]string{"web-1": "web-2", "web-2": "web-1"}[victim]

	// A drain whose context ends first reports it.
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tp.Drain(short, victim); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a request in flight and a short context = %v; want context.DeadlineExceeded", err)
	}
	drained := make(chan error, 1)
	go func() { drained <- tp.Drain(context.Background(), victim) }()

	for i := range 20 {
		if got, err := get(context.Background(), tp, "/"); err != nil || got != other {
			t.Fatalf("GET %d while %s drains = %q, %v; want %s", i, victim, got, err, other)
		}
	}
	if st, _ := tp.Target(victim); st.State != StateDraining || st.InFlight != 1 {
		t.Errorf("draining target: %v, %d in flight; want draining, 1", st.State, st.InFlight)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a request in flight", err)
	default:
	}
	close(release)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "done" {
		t.Errorf("slow response = %q; want done", body)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain = %v; want nil", err)
	}
	if err := tp.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if got := len(tp.Targets()); got != 1 {
		t.Errorf("%d targets after Remove; want 1", got)
	}
}

// TestRetryBudgetStopsStorm: when every instance fails, retries stay a
// fraction of requests instead of multiplying them.
func TestRetryBudgetStopsStorm(t *testing.T) {
	reset := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // request read, no response: a reset for the client
		}
	}
	bs := []*backend{newBackend(t, "web-1", reset), newBackend(t, "web-2", reset), newBackend(t, "web-3", reset)}
	tp := startPool(t, Options{
		Passive: PassiveHealth{ConsecutiveErrors: -1, Consecutive5xx: -1},
		Retry:   Retry{Attempts: 3, Ratio: 0.2, MinPerSecond: -1},
	}, bs...)
	const requests = 100
	for range requests {
		if _, err := get(context.Background(), tp, "/"); err == nil {
			t.Fatalf("GET to resetting backends succeeded")
		}
	}
	var hits int64
	for _, b := range bs {
		hits += b.hits.Load()
	}
	// Without a budget each request would be tried 3 times.
	if hits > requests+requests/5+1 || hits < requests+requests/10 {
		t.Errorf("%d failing GETs reached backends %d times; want about %d (20%% retries)", requests, hits, requests+requests/5)
	}
}

func TestZonePreference(t *testing.T) {
	local, remote := newBackend(t, "a-1", nil), newBackend(t, "b-1", nil)
	tp := startPool(t, Options{Zone: "a"})
	tp.Add(local.target("a"))
	tp.Add(remote.target("b"))
	tp.waitState(t, "a-1", StateHealthy)
	tp.waitState(t, "b-1", StateHealthy)
	for range 20 {
		if got, err := get(context.Background(), tp, "/"); err != nil || got != "a-1" {
			t.Fatalf("GET = %q, %v; want the local a-1", got, err)
		}
	}
	local.healthy.Store(false)
	tp.waitState(t, "a-1", StateUnhealthy)
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "b-1" {
		t.Fatalf("GET with the local target unhealthy = %q, %v; want b-1 in the other zone", got, err)
	}
}
