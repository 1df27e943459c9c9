package balance

import (
	"math/rand/v2"
	"testing"
)

// testTarget returns a target for pure selection tests.
func testTarget(id string, local bool, inflight int64) *target {
	t := &target{Target: Target{ID: id, Addr: id + ":80"}, local: local}
	t.weight.Store(1)
	t.healthy.Store(true)
	t.inflight.Store(inflight)
	return t
}

// picks runs pick n times with the pool's default policy and a seeded
// random source, and counts the IDs.
func picks(ts []*target, now int64, tried []*target, n int) map[string]int {
	return picksBy(64, ts, now, tried, n)
}

// picksBy is picks with spill as the saturation threshold.
func picksBy(spill int64, ts []*target, now int64, tried []*target, n int) map[string]int {
	r := rand.New(rand.NewPCG(1, 2))
	got := map[string]int{}
	for range n {
		if t := pick(ts, now, tried, r.Uint64(), spill); t != nil {
			got[t.ID]++
		} else {
			got[""]++
		}
	}
	return got
}

func TestPickLeastInFlightOfTwo(t *testing.T) {
	a, b, c := testTarget("a", true, 0), testTarget("b", true, 1), testTarget("c", true, 2)
	got := picks([]*target{a, b, c}, 0, nil, 3000)
	// c loses every draw it is in; a wins every draw it is in (2 of 3).
	if got["c"] != 0 {
		t.Errorf("busiest target picked %d times; want 0", got["c"])
	}
	if got["a"] < 1800 || got["a"] > 2200 {
		t.Errorf("least busy target picked %d of 3000 times; want about 2000", got["a"])
	}
}

func TestPickSpreadsEvenly(t *testing.T) {
	var ts []*target
	for _, id := range []string{"a", "b", "c", "d"} {
		ts = append(ts, testTarget(id, true, 0))
	}
	got := picks(ts, 0, nil, 4000)
	for _, tg := range ts {
		if n := got[tg.ID]; n < 850 || n > 1150 {
			t.Errorf("pick chose %s %d of 4000 times; want about 1000", tg.ID, n)
		}
	}
}

func TestPickSkipsIneligible(t *testing.T) {
	ok := testTarget("ok", true, 5)
	starting := testTarget("starting", true, 0)
	starting.healthy.Store(false)
	draining := testTarget("draining", true, 0)
	draining.draining.Store(true)
	ejected := testTarget("ejected", true, 0)
	ejected.ejectedUntil.Store(100)
	got := picks([]*target{ok, starting, draining, ejected}, 50, nil, 100)
	if got["ok"] != 100 {
		t.Errorf("picks = %v; want only ok", got)
	}
	// Once the ejection ended, the ejected target is eligible again.
	got = picks([]*target{ok, ejected}, 100, nil, 100)
	if got["ejected"] != 100 {
		t.Errorf("picks after ejection = %v; want only the idle, no longer ejected one", got)
	}
}

func TestPickZones(t *testing.T) {
	tests := []struct {
		name   string
		local  []bool // eligibility of a1, a2 (local)
		remote []bool // eligibility of b1, b2 (other zone)
		want   map[string]bool
	}{
		{"local preferred", []bool{true, true}, []bool{true, true}, map[string]bool{"a1": true, "a2": true}},
		{"one local left", []bool{false, true}, []bool{true, true}, map[string]bool{"a2": true}},
		{"spill when no local", []bool{false, false}, []bool{true, true}, map[string]bool{"b1": true, "b2": true}},
		{"spill to the one remote", []bool{false, false}, []bool{false, true}, map[string]bool{"b2": true}},
		{"none", []bool{false, false}, []bool{false, false}, map[string]bool{"": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ts []*target
			for i, ok := range tc.local {
				tg := testTarget("a"+string(rune('1'+i)), true, 0)
				tg.healthy.Store(ok)
				ts = append(ts, tg)
			}
			for i, ok := range tc.remote {
				tg := testTarget("b"+string(rune('1'+i)), false, 0)
				tg.healthy.Store(ok)
				ts = append(ts, tg)
			}
			for id := range picks(ts, 0, nil, 200) {
				if !tc.want[id] {
					t.Errorf("pick chose %q; want one of %v", id, tc.want)
				}
			}
		})
	}
}

func TestPickNeverRetriesTried(t *testing.T) {
	a, b := testTarget("a", true, 0), testTarget("b", false, 9)
	ts := []*target{a, b}
	if got := picks(ts, 0, []*target{a}, 100); got["b"] != 100 {
		t.Errorf("picks with a tried = %v; want only b, even in another zone and busier", got)
	}
	if got := picks(ts, 0, []*target{a, b}, 10); got[""] != 10 {
		t.Errorf("picks with all tried = %v; want none", got)
	}
}

func TestPickPanicMode(t *testing.T) {
	ejected := testTarget("ejected", true, 0)
	ejected.ejectedUntil.Store(1000)
	unhealthy := testTarget("unhealthy", true, 0)
	unhealthy.healthy.Store(false)
	draining := testTarget("draining", true, 0)
	draining.draining.Store(true)
	got := picks([]*target{ejected, unhealthy, draining}, 0, nil, 100)
	if got["ejected"] != 100 {
		t.Errorf("picks with only an ejected target = %v; want the ejected one (panic mode)", got)
	}
}

func TestPickEmpty(t *testing.T) {
	if got := pick(nil, 0, nil, 42, 64); got != nil {
		t.Errorf("pick(nil) = %v; want nil", got.ID)
	}
}

func TestPeakEWMA(t *testing.T) {
	if got := peakEWMA(10, 100); got != 100 {
		t.Errorf("peakEWMA(10, 100) = %v; want 100 (peaks are taken at once)", got)
	}
	if got := peakEWMA(100, 0); got != 90 {
		t.Errorf("peakEWMA(100, 0) = %v; want 90", got)
	}
}
