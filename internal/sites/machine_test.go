package sites

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/pgha"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// The layout of these tests: home-1 and home-2 in the leader site home,
// cloud-1 in the follower site, w-1 a witness in site witness.
var known = map[string]string{"home-1": "home", "home-2": "home", "cloud-1": "cloud", "w-1": "witness"}

func allUp() map[string]string { return copyMap(known) }

func homeDown() map[string]string {
	return map[string]string{"cloud-1": "cloud", "w-1": "witness"}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func newTestMachine(t *testing.T, node, site string, auto bool) *Machine {
	t.Helper()
	m, err := NewMachine(Config{Node: node, Site: site, LeaderSite: "home", EmergencyAfter: 10 * time.Second,
		AutoFailback: auto, StableFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func describe(acts []Action) []string {
	var out []string
	for _, a := range acts {
		s := a.Kind.String()
		switch a.Kind {
		case ActMode:
			if a.Mode.InEmergency() {
				s += " emergency"
			} else {
				s += " normal"
			}
		case ActDeclare:
			s += " " + a.Emergency.Site
		}
		out = append(out, s)
	}
	return out
}

func step(t *testing.T, m *Machine, o Observation, want ...string) []Action {
	t.Helper()
	acts := m.Step(o)
	if got := describe(acts); !slices.Equal(got, want) {
		t.Fatalf("%s at +%s: Step = %q; want %q", m.cfg.Node, o.Now.Sub(t0), got, want)
	}
	return acts
}

func obs(now time.Time, beats map[string]string) Observation {
	return Observation{Now: now, Fresh: true, Known: known, Beats: beats}
}

// TestDeclareAfterLeaderSiteDown: the first node by name outside home
// declares once home has had no live beat for EmergencyAfter; the
// other waits BackupDelay more; a read without quorum starts the count
// again; home's own nodes never declare.
func TestDeclareAfterLeaderSiteDown(t *testing.T) {
	c := newTestMachine(t, "cloud-1", "cloud", false)
	w := newTestMachine(t, "w-1", "witness", false)
	h := newTestMachine(t, "home-1", "home", false)
	step(t, c, obs(t0, allUp()), "mode normal")
	step(t, w, obs(t0, allUp()), "mode normal")
	step(t, c, obs(at(time.Second), homeDown()))
	step(t, c, obs(at(5*time.Second), homeDown()))
	lost := obs(at(6*time.Second), homeDown())
	lost.Fresh = false
	step(t, c, lost) // no quorum: the count starts again
	step(t, c, obs(at(7*time.Second), homeDown()))
	step(t, c, obs(at(16*time.Second), homeDown()))
	acts := step(t, c, obs(at(17*time.Second), homeDown()), "declare home")
	e := acts[0].Emergency
	if e.By != "cloud-1" || !e.Since.Equal(at(17*time.Second)) || !strings.Contains(e.Cause, "no node of site home reached the control plane's quorum for 10s") {
		t.Errorf("emergency = %+v", e)
	}
	// w-1 is not first by name: it acts BackupDelay later.
	step(t, w, obs(at(time.Second), homeDown()))
	step(t, w, obs(at(11*time.Second), homeDown()))
	step(t, w, obs(at(16*time.Second), homeDown()), "declare home")
	// home's node, cut off but for this read, never declares.
	step(t, h, obs(t0, map[string]string{"cloud-1": "cloud"}), "mode normal")
	step(t, h, obs(at(time.Minute), map[string]string{"cloud-1": "cloud"}))
}

// TestNoEmergencyForUnknownSite: a leader site never seen (the follower
// site started first) is not declared down.
func TestNoEmergencyForUnknownSite(t *testing.T) {
	c := newTestMachine(t, "cloud-1", "cloud", false)
	o := obs(t0, homeDown())
	o.Known = homeDown()
	step(t, c, o, "mode normal")
	o.Now = at(time.Hour)
	step(t, c, o)
}

// TestModeFollowsEmergency: nodes outside the site declared down run in
// emergency mode while the key is there; without quorum a node keeps
// its mode; the leader site's nodes stay normal.
func TestModeFollowsEmergency(t *testing.T) {
	c := newTestMachine(t, "cloud-1", "cloud", false)
	h := newTestMachine(t, "home-1", "home", false)
	o := obs(t0, homeDown())
	o.Emergency, o.Rev = &pgha.Emergency{Site: "home", Since: t0, By: "w-1"}, 7
	step(t, c, o, "mode emergency")
	step(t, c, o)
	o.Fresh = false
	o.Emergency = nil
	step(t, c, o) // no quorum: keeps emergency mode
	o.Fresh = true
	step(t, c, o, "mode normal")
	o.Emergency = &pgha.Emergency{Site: "home", Since: t0, By: "w-1"}
	step(t, h, o, "mode normal")
}

// TestEndWhenPrimaryBack: the emergency ends once the database primary
// runs in the site it was declared against.
func TestEndWhenPrimaryBack(t *testing.T) {
	c := newTestMachine(t, "cloud-1", "cloud", false)
	o := obs(t0, allUp())
	o.Emergency, o.Rev = &pgha.Emergency{Site: "home", Since: t0, By: "cloud-1"}, 7
	o.DB = &DBState{Leader: "cloud-1", LeaderSite: "cloud", LeaderRunning: true}
	step(t, c, o, "mode emergency")
	o.DB = &DBState{Leader: "home-1", LeaderSite: "home", LeaderRunning: true}
	acts := step(t, c, o, "end")
	if acts[0].Rev != 7 || !strings.Contains(acts[0].Reason, "home-1 runs in site home again") {
		t.Errorf("end = %+v", acts[0])
	}
}

// TestAutoFailback: with failback auto, the leader site back with a
// database member streaming within MaxFailbackLag for StableFor starts a
// failback; a member too far behind, or the site down again, starts the
// count again.
func TestAutoFailback(t *testing.T) {
	c := newTestMachine(t, "cloud-1", "cloud", true)
	o := obs(t0, allUp())
	o.Emergency, o.Rev = &pgha.Emergency{Site: "home", Since: t0, By: "cloud-1"}, 7
	db := &DBState{Leader: "cloud-1", LeaderSite: "cloud", LeaderRunning: true,
		Members: []DBMember{{Name: "cloud-1", Site: "cloud"}, {Name: "home-1", Site: "home", Streaming: true, LagBytes: 5 << 20}}}
	o.DB = db
	step(t, c, o, "mode emergency")
	o.Now = at(2 * time.Minute)
	step(t, c, o) // home-1 is 5 MiB behind
	db.Members[1].LagBytes = 100
	step(t, c, o)
	o.Now = at(2*time.Minute + 59*time.Second)
	step(t, c, o)
	o.Beats = homeDown()
	o.Now = at(3 * time.Minute)
	step(t, c, o) // home gone again
	o.Beats = allUp()
	o.Now = at(3*time.Minute + time.Second)
	step(t, c, o)
	o.Now = at(4*time.Minute + time.Second)
	step(t, c, o, "failback")
	o.Busy = true
	o.Now = at(6 * time.Minute)
	step(t, c, o) // one at a time
	if tgt, ok := FailbackTarget(*db, "home", DefaultMaxFailbackLag); !ok || tgt.Name != "home-1" {
		t.Errorf("FailbackTarget = %+v, %v; want home-1", tgt, ok)
	}

	manual := newTestMachine(t, "cloud-1", "cloud", false)
	o.Busy = false
	step(t, manual, o, "mode emergency")
	o.Now = at(time.Hour)
	step(t, manual, o) // failback manual: only the command starts one
}
