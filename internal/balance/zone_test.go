package balance

import (
	"maps"
	"slices"
	"testing"
)

// zoneTarget describes a target for TestPickSpill: in the local zone or
// not, Remote or not, its requests in flight and its state.
type zoneTarget struct {
	id       string
	local    bool
	remote   bool
	inflight int64
	state    State // StateHealthy, StateUnhealthy, StateDraining or StateEjected
}

func (z zoneTarget) target() *target {
	t := testTarget(z.id, z.local, z.inflight)
	t.Remote = z.remote
	switch z.state {
	case StateUnhealthy:
		t.healthy.Store(false)
	case StateDraining:
		t.draining.Store(true)
	case StateEjected:
		t.ejectedUntil.Store(100) // the test picks at 50
	}
	return t
}

func TestPickSpill(t *testing.T) {
	const (
		ok        = StateHealthy
		unhealthy = StateUnhealthy
		draining  = StateDraining
		ejected   = StateEjected
	)
	const spill = 64
	tests := []struct {
		name    string
		spill   int64
		targets []zoneTarget
		want    []string // every ID pick may return, each at least once; "" is none
	}{
		{"all local healthy: local only", spill,
			[]zoneTarget{{"a1", true, false, 0, ok}, {"a2", true, false, 0, ok}, {"b1", false, false, 0, ok}, {"b2", false, false, 0, ok}},
			[]string{"a1", "a2"}},
		{"local busy below the threshold: local only", spill,
			[]zoneTarget{{"a1", true, false, 63, ok}, {"a2", true, false, 63, ok}, {"b1", false, true, 0, ok}},
			[]string{"a1", "a2"}},
		{"one local saturated, one not: the other local", spill,
			[]zoneTarget{{"a1", true, false, 64, ok}, {"a2", true, false, 10, ok}, {"b1", false, true, 0, ok}},
			[]string{"a2"}},
		{"every local saturated: all zones drawn", spill,
			[]zoneTarget{{"a1", true, false, 64, ok}, {"a2", true, false, 64, ok}, {"b1", false, false, 0, ok}, {"b2", false, true, 0, ok}},
			[]string{"a1", "a2", "b1", "b2"}},
		{"saturated local against an idle remote: the remote", spill,
			[]zoneTarget{{"a1", true, false, 64, ok}, {"b1", false, true, 0, ok}},
			[]string{"b1"}},
		{"saturated local against a busier remote: the local", spill,
			[]zoneTarget{{"a1", true, false, 64, ok}, {"b1", false, true, 100, ok}},
			[]string{"a1"}},
		{"spill disabled: local however busy", -1,
			[]zoneTarget{{"a1", true, false, 1000, ok}, {"b1", false, true, 0, ok}},
			[]string{"a1"}},
		{"local unhealthy, draining or ejected: other zones", spill,
			[]zoneTarget{{"a1", true, false, 0, unhealthy}, {"a2", true, false, 0, draining}, {"a3", true, false, 0, ejected}, {"b1", false, false, 5, ok}, {"b2", false, true, 5, ok}},
			[]string{"b1", "b2"}},
		{"an idle draining local does not keep a saturated zone from spilling", spill,
			[]zoneTarget{{"a1", true, false, 0, draining}, {"a2", true, false, 64, ok}, {"b1", false, true, 0, ok}},
			[]string{"b1"}},
		{"a remote in the local zone is local", spill,
			[]zoneTarget{{"a1", true, false, 0, unhealthy}, {"r1", true, true, 9, ok}, {"b1", false, false, 0, ok}},
			[]string{"r1"}},
		{"nothing eligible: panic mode, local first", spill,
			[]zoneTarget{{"a1", true, false, 0, ejected}, {"a2", true, false, 0, unhealthy}, {"b1", false, false, 0, ejected}},
			[]string{"a1"}},
		{"nothing eligible but ejected elsewhere: panic mode, other zone", spill,
			[]zoneTarget{{"a1", true, false, 0, draining}, {"b1", false, true, 0, ejected}},
			[]string{"b1"}},
		{"nothing healthy: none", spill,
			[]zoneTarget{{"a1", true, false, 0, draining}, {"b1", false, false, 0, unhealthy}},
			[]string{""}},
	}
	for _, tc := range tests {
		var ts []*target
		for _, z := range tc.targets {
			ts = append(ts, z.target())
		}
		got := slices.Sorted(maps.Keys(picksBy(tc.spill, ts, 50, nil, 400)))
		if !slices.Equal(got, tc.want) {
			t.Errorf("pick(%q) chose %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestPickSpillShare: once the local zone is saturated, the other zones get
// the draws that the least-in-flight rule gives them, not a fixed share.
func TestPickSpillShare(t *testing.T) {
	ts := []*target{testTarget("a1", true, 64), testTarget("a2", true, 64), testTarget("b1", false, 0), testTarget("b2", false, 0)}
	got := picks(ts, 0, nil, 6000)
	// Of the 6 pairs only {a1, a2} yields a local target.
	if local := got["a1"] + got["a2"]; local < 700 || local > 1300 {
		t.Errorf("picks with the local zone saturated = %v; want about 1000 of 6000 local", got)
	}
}

func TestPickWeight(t *testing.T) {
	weighted := func(id string, local bool, inflight, weight int64) *target {
		t := testTarget(id, local, inflight)
		t.weight.Store(weight)
		return t
	}
	tests := []struct {
		name    string
		targets []*target
		want    string
	}{
		{"a node of 3 instances takes 3 times the in-flight of one",
			[]*target{weighted("a1", true, 64, 1), weighted("b1", false, 150, 3)}, "b1"},
		{"but not more",
			[]*target{weighted("a1", true, 64, 1), weighted("b1", false, 200, 3)}, "a1"},
		{"a weighted local target saturates at spill times its weight",
			[]*target{weighted("r1", true, 100, 2), weighted("b1", false, 0, 1)}, "r1"},
		{"between other nodes, the least busy per instance",
			[]*target{weighted("b1", false, 10, 1), weighted("b2", false, 30, 4)}, "b2"},
	}
	for _, tc := range tests {
		got := slices.Sorted(maps.Keys(picks(tc.targets, 0, nil, 200)))
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("pick(%q) chose %q; want [%s]", tc.name, got, tc.want)
		}
	}
}
