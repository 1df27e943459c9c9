package balance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// fixedHedge hedges after exactly d.
func fixedHedge(d time.Duration) Retry {
	return Retry{Hedge: Hedge{Min: d, Max: d}}
}

// timedGET sends a GET through p and returns the body and how long it took
// on the bubble's clock.
func timedGET(t *testing.T, p *Pool) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	body, err := get(context.Background(), p, "/")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	return body, time.Since(start)
}

// TestHedgeHungTarget: a request whose first try goes to a target that
// never answers gets a second try on another target exactly when the
// per-try timeout passes, takes its answer, and stops the first try; the
// hung target is charged for each such try and ejected after three, after
// which no request waits.
func TestHedgeHungTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b")
		n.target("a").delay.Store(hang)
		p := n.pool(t, Options{Retry: fixedHedge(100 * time.Millisecond)})
		busy(t, p, "b") // first tries go to a while it is eligible
		for i := range 3 {
			if body, took := timedGET(t, p); body != "b" || took != 100*time.Millisecond {
				t.Fatalf("GET %d = %q after %v; want b after the per-try timeout, 100ms", i, body, took)
			}
		}
		if st, _ := p.Target("a"); st.State != StateEjected || st.Failures != 3 || st.InFlight != 0 {
			t.Errorf("hung target after 3 hedged GETs: %v, %d failures, %d in flight; want ejected, 3, 0", st.State, st.Failures, st.InFlight)
		}
		for i := range 5 {
			if body, took := timedGET(t, p); body != "b" || took != 0 {
				t.Fatalf("GET %d after the ejection = %q after %v; want b at once", i, body, took)
			}
		}
		if got := n.target("a").got.Load(); got != 3 {
			t.Errorf("hung target got %d requests; want 3", got)
		}
		if st := p.Stats(); st.Hedges != 3 || st.HedgeWins != 3 {
			t.Errorf("Stats = %+v; want 3 hedges, 3 won", st)
		}
	})
}

// TestHedgeNotBeforeTimeout: a try that answers within the per-try timeout
// is the only one.
func TestHedgeNotBeforeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b")
		n.target("a").delay.Store(int64(99 * time.Millisecond))
		p := n.pool(t, Options{Retry: fixedHedge(100 * time.Millisecond)})
		busy(t, p, "b")
		for i := range 10 {
			if body, took := timedGET(t, p); body != "a" || took != 99*time.Millisecond {
				t.Fatalf("GET %d = %q after %v; want a after 99ms", i, body, took)
			}
		}
		if got := n.target("b").got.Load(); got != 0 {
			t.Errorf("b got %d requests; want none", got)
		}
		if st := p.Stats(); st.Hedges != 0 {
			t.Errorf("Stats = %+v; want no hedge", st)
		}
	})
}

// TestHedgeSlowEverywhereChargesNobody: when every target is slow, the
// first try answers first; the one hedge it beat is stopped, no third try
// is made, and no target counts a failure.
func TestHedgeSlowEverywhereChargesNobody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b", "c")
		for _, name := range []string{"a", "b", "c"} {
			n.target(name).delay.Store(int64(250 * time.Millisecond))
		}
		p := n.pool(t, Options{Retry: fixedHedge(100 * time.Millisecond)})
		for i := range 10 {
			if _, took := timedGET(t, p); took != 250*time.Millisecond {
				t.Fatalf("GET %d took %v; want 250ms, the first try's answer", i, took)
			}
		}
		if got := n.target("a").got.Load() + n.target("b").got.Load() + n.target("c").got.Load(); got != 20 {
			t.Errorf("the targets got %d requests; want 20: each GET and one hedge of it", got)
		}
		for _, id := range []string{"a", "b", "c"} {
			if st, _ := p.Target(id); st.State != StateHealthy || st.Failures != 0 || st.InFlight != 0 {
				t.Errorf("target %s: %v, %d failures, %d in flight; want healthy, 0, 0", id, st.State, st.Failures, st.InFlight)
			}
		}
		if st := p.Stats(); st.Hedges != 10 || st.HedgeWins != 0 {
			t.Errorf("Stats = %+v; want 10 hedges, none won", st)
		}
	})
}

// TestHedgeDelayFollowsLatency: the per-try timeout is the configured
// multiple of the recent tries' 99th percentile, and a hung target costs a
// request exactly that.
func TestHedgeDelayFollowsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b")
		n.target("a").delay.Store(int64(10 * time.Millisecond))
		n.target("b").delay.Store(int64(10 * time.Millisecond))
		p := n.pool(t, Options{Retry: Retry{Hedge: Hedge{Min: time.Millisecond, Max: time.Second}}})
		if got := p.Stats().PerTryTimeout; got != time.Second {
			t.Fatalf("per-try timeout before any try = %v; want the maximum, 1s", got)
		}
		for range latMinSamples {
			timedGET(t, p)
		}
		want := 2 * time.Duration(latUpper(latBucket(int64(10*time.Millisecond))))
		if got := p.Stats().PerTryTimeout; got != want {
			t.Fatalf("per-try timeout after %d tries of 10ms = %v; want 2 × p99 = %v", latMinSamples, got, want)
		}
		n.target("a").delay.Store(hang)
		busy(t, p, "b")
		if body, took := timedGET(t, p); body != "b" || took != want+10*time.Millisecond {
			t.Fatalf("GET to the hung target = %q after %v; want b after %v", body, took, want+10*time.Millisecond)
		}
	})
}

// TestHedgeWithinBudget: with no retry budget, a request is not hedged.
func TestHedgeWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b")
		n.target("a").delay.Store(hang)
		r := fixedHedge(100 * time.Millisecond)
		r.Ratio, r.MinPerSecond = -1, -1
		p := n.pool(t, Options{Retry: r, UpstreamTimeout: time.Second})
		busy(t, p, "b")
		start := time.Now()
		_, err := get(context.Background(), p, "/")
		if !errors.Is(err, ErrUpstreamTimeout) || time.Since(start) != time.Second {
			t.Fatalf("GET without budget = %v after %v; want ErrUpstreamTimeout after 1s", err, time.Since(start))
		}
		if got, st := n.target("b").got.Load(), p.Stats(); got != 0 || st.Hedges != 0 {
			t.Errorf("without budget b got %d requests and the pool counts %d hedges; want 0, 0", got, st.Hedges)
		}
	})
}

// TestHedgeOnlyReplayable: a POST is hedged only when it carries an
// idempotency key and its body can be made again.
func TestHedgeOnlyReplayable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet("a", "b")
		n.target("a").delay.Store(hang)
		p := n.pool(t, Options{Retry: fixedHedge(100 * time.Millisecond), UpstreamTimeout: time.Second})
		busy(t, p, "b")
		post := func(key bool, body []byte) (string, error) {
			req, _ := http.NewRequest(http.MethodPost, "http:///form", bytes.NewReader(body))
			if key {
				req.Header.Set("Idempotency-Key", "k1")
			}
			resp, err := p.RoundTrip(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		if _, err := post(false, []byte("x=1")); !errors.Is(err, ErrUpstreamTimeout) {
			t.Errorf("POST without a key to a hung target = %v; want ErrUpstreamTimeout: not hedged", err)
		}
		// The hung target failed once; the next ones are hedged.
		start := time.Now()
		if got, err := post(true, []byte("x=2")); err != nil || got != "b" || time.Since(start) != 100*time.Millisecond {
			t.Errorf("POST with a key = %q, %v after %v; want b after 100ms", got, err, time.Since(start))
		}
		if got := n.target("b").body.Load(); got != "x=2" {
			t.Errorf("hedged POST reached b with body %q; want x=2", got)
		}
		if st := p.Stats(); st.Hedges != 1 {
			t.Errorf("Stats = %+v; want 1 hedge", st)
		}
	})
}
