package balance

import (
	"testing"
	"time"
)

func TestHealthState(t *testing.T) {
	tests := []struct {
		name    string
		results string // p = pass, f = fail
		want    State
		changes int
	}{
		{"new", "", StateStarting, 0},
		{"one pass is not enough", "p", StateStarting, 0},
		{"rise", "pp", StateHealthy, 1},
		{"failures while starting stay starting", "fffff", StateStarting, 0},
		{"a failure restarts the rise", "pfp", StateStarting, 0},
		{"healthy survives fall-1 failures", "ppff", StateHealthy, 1},
		{"fall", "ppfff", StateUnhealthy, 2},
		{"a pass restarts the fall", "ppffpff", StateHealthy, 1},
		{"recover", "ppfffpp", StateHealthy, 3},
		{"unhealthy needs rise passes", "ppfffp", StateUnhealthy, 2},
		{"still unhealthy", "ppffffff", StateUnhealthy, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHealthState(2, 3)
			changes := 0
			for _, r := range tc.results {
				if h.observe(r == 'p') {
					changes++
				}
			}
			if h.state != tc.want || changes != tc.changes {
				t.Errorf("after %q: state %v, %d changes; want %v, %d", tc.results, h.state, changes, tc.want, tc.changes)
			}
		})
	}
}

func TestHealthStateReset(t *testing.T) {
	h := newHealthState(1, 1)
	h.observe(true)
	h.reset()
	if h.state != StateStarting {
		t.Fatalf("state after reset = %v; want starting", h.state)
	}
	if !h.observe(true) || h.state != StateHealthy {
		t.Errorf("state after reset and a pass = %v; want healthy (rise 1)", h.state)
	}
}

// TestTargetAddedHealthy: a target added as Healthy (its health carried
// over an upgrade) takes requests at once, before any check has run, and
// its checks still make it unhealthy when it fails them.
func TestTargetAddedHealthy(t *testing.T) {
	b := newBackend(t, "web-1", nil)
	slow := fastHealth
	slow.Interval, slow.Rise = time.Hour, 5 // no check would make it healthy in this test
	tp := startPool(t, Options{Health: slow})
	tg := b.target("")
	tg.Healthy = true
	if err := tp.Add(tg); err != nil {
		t.Fatal(err)
	}
	if st, _ := tp.Target("web-1"); st.State != StateHealthy {
		t.Fatalf("state after Add(Healthy) = %v; want healthy at once", st.State)
	}
	if body, err := get(t.Context(), tp, "/"); err != nil || body != "web-1" {
		t.Errorf("GET = %q, %v; want web-1's answer", body, err)
	}

	fast := newBackend(t, "web-2", nil)
	fast.healthy.Store(false)
	tp2 := startPool(t, Options{Health: fastHealth})
	tg = fast.target("")
	tg.Healthy = true
	if err := tp2.Add(tg); err != nil {
		t.Fatal(err)
	}
	tp2.waitState(t, "web-2", StateUnhealthy)
}
