package pgha

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const ttl = 3 * time.Second

func at(d time.Duration) time.Time { return t0.Add(d) }

func newTestMachine(t *testing.T, name string, sync, strict bool) *Machine {
	t.Helper()
	m, err := NewMachine(Config{
		Name: name, Members: []string{"a", "b", "c"},
		Zones:       map[string]string{"a": "z1", "b": "z2", "c": "z1"},
		Synchronous: sync, Strict: strict, TTL: ttl,
	})
	if err != nil {
		t.Fatalf("NewMachine = %v", err)
	}
	return m
}

// describe writes actions as Action.String does, one string per action.
func describe(acts []Action) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.String())
	}
	return out
}

// step feeds o and checks the actions.
func step(t *testing.T, m *Machine, o Observation, want ...string) []Action {
	t.Helper()
	acts := m.Step(o)
	if got := describe(acts); !slices.Equal(got, want) {
		t.Fatalf("%s at +%s: Step = %q; want %q", m.cfg.Name, o.Now.Sub(t0), got, want)
	}
	return acts
}

func rec(name string, state PGState, lsn LSN) MemberRecord {
	return MemberRecord{Name: name, State: state.String(), LSN: lsn}
}

// primaryObs is member a running as primary with its lease renewed at
// renew, b streaming as synchronous standby and named in the key.
func primaryObs(now, renew time.Time) Observation {
	return Observation{
		Now: now,
		Local: Local{
			State: PGPrimary, SysID: 7, Timeline: 1, CheckpointTimeline: 1, LSN: 1000, SyncNames: "b", Slots: []string{"b", "c"},
			Replicas: []Replica{{Name: "b", Streaming: true, Sync: true, Flush: 1000, ReplyTime: now}},
		},
		View: View{
			Fresh: true, Init: InitKey{Holder: "a", SysID: 7}, Leader: "a",
			Sync:    SyncKey{Leader: "a", Standby: "b", Rev: 5},
			Members: map[string]MemberRecord{"a": rec("a", PGPrimary, 1000), "b": rec("b", PGStandby, 1000)},
		},
		Lease: Lease{Held: true, RenewSent: renew},
	}
}

// standbyObs is member name running as standby of a, the lease free.
func standbyObs(now time.Time, lsn LSN) Observation {
	return Observation{
		Now:   now,
		Local: Local{State: PGStandby, SysID: 7, Timeline: 1, LSN: lsn, Upstream: "a"},
		View: View{
			Fresh: true, Init: InitKey{Holder: "a", SysID: 7},
			Sync:    SyncKey{Leader: "a", Standby: "b", Rev: 5},
			Members: map[string]MemberRecord{},
		},
	}
}

func TestBootstrapRaceMachine(t *testing.T) {
	a, b := newTestMachine(t, "a", true, false), newTestMachine(t, "b", true, false)
	empty := Observation{Now: t0, View: View{Fresh: true}}
	// Both see a free initialize key: both try; the store lets one win.
	step(t, a, empty, "claim-init")
	step(t, b, empty, "claim-init")

	won := empty
	won.View.Init = InitKey{Holder: "a"}
	step(t, a, won, "initdb")
	step(t, b, won) // b waits for a

	won.Now = at(time.Second)
	won.Local = Local{State: PGStopped, SysID: 7}
	step(t, a, won, "acquire @0")
	step(t, b, Observation{Now: at(time.Second), View: won.View})

	held := won
	held.Lease = Lease{Held: true, RenewSent: at(time.Second)}
	held.View.Leader = "a"
	step(t, a, held, "start-primary")
	held.Local.State = PGPrimary
	held.View.Sync = SyncKey{Leader: "a", Rev: 3}
	step(t, a, held, "finish-bootstrap")

	// Bootstrapped: b clones from the running leader.
	done := Observation{Now: at(2 * time.Second), View: held.View}
	done.View.Init.SysID = 7
	step(t, b, done) // a's record does not show it running yet
	done.View.Members = map[string]MemberRecord{"a": rec("a", PGPrimary, 100)}
	step(t, b, done, "clone a")
}

// TestBootstrapClaimLapsed: the bootstrapping member stalled longer than
// TTL after it took the leader lease, its initialize claim lapsed with its
// member lease, and another member claimed the key and ran initdb. The
// lease holder still finishes the bootstrap (the store lets only the lease
// holder), and the other member, whose data is not the cluster's, clones.
func TestBootstrapClaimLapsed(t *testing.T) {
	a, b := newTestMachine(t, "a", true, false), newTestMachine(t, "b", true, false)
	held := Observation{
		Now:   at(5 * time.Second),
		Local: Local{State: PGPrimary, SysID: 7},
		View:  View{Fresh: true, Init: InitKey{Holder: "b"}, Leader: "a", Sync: SyncKey{Leader: "a", Rev: 3}},
		Lease: Lease{Held: true, RenewSent: at(5 * time.Second)},
	}
	step(t, a, held, "finish-bootstrap")
	held.View.Init.Holder = "" // lapsed, not claimed again yet
	step(t, a, held, "finish-bootstrap")

	// b, holding the claim, with its own initdb done, cannot lead: the
	// lease is a's.
	claimed := Observation{Now: at(5 * time.Second), Local: Local{State: PGStopped, SysID: 9},
		View: View{Fresh: true, Init: InitKey{Holder: "b"}, Leader: "a"}}
	step(t, b, claimed)
	done := claimed
	done.View.Init = InitKey{Holder: "a", SysID: 7}
	done.View.Members = map[string]MemberRecord{"a": rec("a", PGPrimary, 100)}
	step(t, b, done, "clone a")
}

func TestInitdbFailureBacksOff(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := Observation{Now: t0, View: View{Fresh: true, Init: InitKey{Holder: "a"}}}
	step(t, a, o, "initdb")
	o.Busy = ActInitdb
	step(t, a, o)
	o.Busy, o.Done = 0, []Result{{Kind: ActInitdb, Err: errors.New("disk full")}}
	step(t, a, o) // waits a second before trying again
	o.Done = nil
	o.Now = at(time.Second)
	step(t, a, o, "initdb")
}

func TestPrimaryRenewsAndKeepsItsStandby(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	for i := range 10 {
		now := at(time.Duration(i) * 500 * time.Millisecond)
		step(t, a, primaryObs(now, now.Add(-100*time.Millisecond)))
	}
	if d, _ := a.Deadline(Lease{Held: true, RenewSent: t0}); !d.Equal(at(2 * time.Second)) {
		t.Errorf("Deadline = +%s; want +2s (TTL - TTL/3)", d.Sub(t0))
	}
}

func TestPrimaryDemotesBeforeLeaseCanExpire(t *testing.T) {
	for _, sync := range []bool{false, true} {
		a := newTestMachine(t, "a", sync, false)
		o := primaryObs(at(1900*time.Millisecond), t0)
		o.View.Fresh = false // the store is unreachable
		if sync {
			o.Local.Replicas = nil // and the synchronous standby is gone
		}
		step(t, a, o)
		o.Now = at(2 * time.Second) // RenewSent + TTL - margin: 1 s before expiry
		step(t, a, o, "forget-lease", "stop immediate")
	}
}

func TestFailsafeKeepsPrimaryWhileSyncStandbyReplies(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	for i := range 8 {
		now := at(time.Duration(i) * time.Second) // the lease was renewed at t0 and never again
		o := primaryObs(now, t0)
		o.View.Fresh = false
		step(t, a, o)
		if i >= 2 && !a.Failsafe() {
			t.Fatalf("at +%ds: Failsafe() = false; want true", i)
		}
	}
	// The standby stops replying (its reply time freezes at +7s).
	o := primaryObs(at(9*time.Second), t0)
	o.View.Fresh = false
	o.Local.Replicas[0].ReplyTime = at(7 * time.Second)
	step(t, a, o)
	o.Now = at(10 * time.Second)
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestAsyncHasNoFailsafe(t *testing.T) {
	a := newTestMachine(t, "a", false, false)
	o := primaryObs(at(2*time.Second), t0)
	o.View.Fresh = false
	o.Local.SyncNames = ""
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestFailsafePrimaryRetakesExpiredLease(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(at(5*time.Second), t0)
	o.Lease.Lost = true
	o.View.Leader = ""
	step(t, a, o, "forget-lease")
	o.Lease = Lease{}
	step(t, a, o, "acquire @5 keep b")
	// Had another member taken it, the primary steps down.
	o.View.Leader = "b"
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestLeaderSeesAnotherHolder(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.View.Leader = "b"
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestUnleasedPrimaryDemotes(t *testing.T) {
	a := newTestMachine(t, "a", false, false)
	o := primaryObs(t0, t0)
	o.Lease = Lease{}
	o.Local.SyncNames = ""
	o.View.Leader = ""
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestSyncStandbyPromotion(t *testing.T) {
	b, c := newTestMachine(t, "b", true, false), newTestMachine(t, "c", true, false)
	o := standbyObs(t0, 900)
	o.View.Leader = "a"
	step(t, b, o)
	o.View.Leader = "" // a's lease expired
	step(t, b, o, "acquire @5")
	// c has more WAL but is not in the sync key: it may not.
	oc := standbyObs(t0, 950)
	step(t, c, oc)
	// Once b holds the lease it promotes.
	o.Lease = Lease{Held: true, RenewSent: t0}
	o.View.Leader = "b"
	step(t, b, o, "promote")
}

func TestStrictPromotionWaitsForAnyStandby(t *testing.T) {
	b := newTestMachine(t, "b", true, true)
	o := standbyObs(t0, 900)
	o.View.Leader = "b"
	o.Lease = Lease{Held: true, RenewSent: t0}
	step(t, b, o, "set-sync-names [*]", "promote")
}

func TestAsyncPromotesMostAdvanced(t *testing.T) {
	tests := []struct {
		name           string
		bLSN, cLSN     LSN
		leaderLSN      LSN
		bWants, cWants bool
	}{
		{"b ahead", 2000, 1900, 2000, true, false},
		{"c ahead", 1900, 2000, 2000, false, true},
		{"tie goes to the lower name", 2000, 2000, 2000, true, false},
		{"too far behind the last leader", 2000, 1000, 2000 + 2<<20, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, me := range []string{"b", "c"} {
				m := newTestMachine(t, me, false, false)
				my, other, wants := tc.bLSN, tc.cLSN, tc.bWants
				otherName := "c"
				if me == "c" {
					my, other, wants, otherName = tc.cLSN, tc.bLSN, tc.cWants, "b"
				}
				o := standbyObs(t0, my)
				o.View.Sync = SyncKey{}
				o.View.Leader = "a"
				o.View.Members = map[string]MemberRecord{"a": rec("a", PGPrimary, tc.leaderLSN)}
				step(t, m, o)
				o.View.Leader = ""
				o.View.Members = map[string]MemberRecord{otherName: rec(otherName, PGStandby, other), me: rec(me, PGStandby, my)}
				var want []string
				if wants {
					want = []string{"acquire @0"}
				}
				step(t, m, o, want...)
			}
		})
	}
}

func TestSyncKeyOrdering(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	// b is gone: the key drops it first, the setting after.
	o := primaryObs(t0, t0)
	o.Local.Replicas = nil
	step(t, a, o, "write-sync @5")
	o.View.Sync = SyncKey{Leader: "a", Rev: 6}
	step(t, a, o, "set-sync-names []")
	o.Local.SyncNames = ""
	step(t, a, o)

	// b is back: the setting names it first; the key only once it is
	// synchronous and has flushed what the primary had then.
	o.Local.Replicas = []Replica{{Name: "b", Streaming: true, Flush: 500, ReplyTime: t0}}
	o.Local.LSN = 1200
	step(t, a, o, "set-sync-names [b]")
	o.Local.SyncNames = "b"
	step(t, a, o) // not synchronous yet
	o.Local.Replicas[0].Sync = true
	step(t, a, o) // synchronous, but has flushed only 500 of 1200
	o.Local.LSN = 1300
	o.Local.Replicas[0].Flush = 1250 // past 1200, the LSN when b was first seen synchronous
	step(t, a, o, "write-sync b@6")
}

func TestSyncPrefersAnotherZone(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.View.Sync = SyncKey{Leader: "a", Rev: 6}
	o.Local.SyncNames = ""
	o.Local.Replicas = []Replica{
		{Name: "c", Streaming: true, Flush: 1000}, // same zone as a, more WAL
		{Name: "b", Streaming: true, Flush: 900},
	}
	step(t, a, o, "set-sync-names [b]")
}

func TestNonStrictDegradesAndStandbyIsNotPromotable(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.Replicas = nil
	step(t, a, o, "write-sync @5")
	// With the key naming no standby, b may not take a free lease.
	b := newTestMachine(t, "b", true, false)
	ob := standbyObs(t0, 1000)
	ob.View.Sync = SyncKey{Leader: "a", Rev: 6}
	step(t, b, ob)
}

func TestStrictKeepsSyncStandby(t *testing.T) {
	a := newTestMachine(t, "a", true, true)
	o := primaryObs(t0, t0)
	o.Local.Replicas = nil // b gone, nobody else: commits wait, nothing changes
	step(t, a, o)
	// c streams: b leaves the key first, then c is brought in.
	o.Local.Replicas = []Replica{{Name: "c", Streaming: true, Flush: 1000}}
	step(t, a, o, "write-sync @5")
	o.View.Sync = SyncKey{Leader: "a", Rev: 6}
	step(t, a, o, "set-sync-names [c]")
}

func TestAsyncPrimaryClearsSyncNames(t *testing.T) {
	a := newTestMachine(t, "a", false, false)
	o := primaryObs(t0, t0)
	step(t, a, o, "set-sync-names []")
}

func TestPrimaryManagesSlots(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.Slots = []string{"b", "old"}
	step(t, a, o, "ensure-slots [b,c]")
}

func TestCrashRestartsInPlace(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.State = PGStopped
	step(t, a, o, "start-primary")
	o.Now, o.Lease.RenewSent = at(time.Second), at(time.Second)
	o.Local.State = PGStarting
	step(t, a, o)
	o.Now, o.Lease.RenewSent = at(6*time.Second), at(6*time.Second)
	step(t, a, o, "stop immediate", "release") // 2×TTL without coming up: hand over
}

func TestCrashRestartSucceeds(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.State = PGStopped
	step(t, a, o, "start-primary")
	o.Local.State = PGPrimary
	o.Now, o.Lease.RenewSent = at(time.Second), at(time.Second)
	step(t, a, o)
	// A later crash gets its own full allowance.
	o.Local.State = PGStopped
	o.Now, o.Lease.RenewSent = at(10*time.Second), at(10*time.Second)
	step(t, a, o, "start-primary")
}

// TestDiskFullHandsOver shows the decisions when the primary's data
// directory's filesystem fills: one restart in place, and when postgres
// stops again the lease goes, so the synchronous standby takes it; the
// full member, stopped, neither starts nor campaigns until space
// returns, then rewinds and follows the new leader.
func TestDiskFullHandsOver(t *testing.T) {
	a, b := newTestMachine(t, "a", true, false), newTestMachine(t, "b", true, false)
	o := primaryObs(t0, t0)
	o.Local.DiskFull = true
	step(t, a, o) // still running (a data file that cannot grow is only an error)
	o.Local.State, o.Local.Replicas = PGStopped, nil
	o.Now = at(100 * time.Millisecond)
	step(t, a, o, "start-primary") // the WAL write's PANIC: once in place
	o.Local.State = PGStarting
	o.Now = at(300 * time.Millisecond)
	step(t, a, o)
	o.Local.State = PGStopped
	o.Now = at(500 * time.Millisecond)
	acts := step(t, a, o, "release") // long before RestartTimeout (6s)
	if !strings.Contains(acts[0].Reason, "filesystem is full") {
		t.Errorf("release reason = %q; want the full filesystem named", acts[0].Reason)
	}

	// b, the synchronous standby, sees the lease free and takes it.
	ob := standbyObs(at(600*time.Millisecond), 1000)
	ob.View.Members = map[string]MemberRecord{"a": rec("a", PGStopped, 1000)}
	step(t, b, ob, "acquire @5")

	// a, without the lease and still full, waits stopped: no standby
	// start, no campaign for the free lease, no clone.
	fa := Observation{Now: at(600 * time.Millisecond), Local: Local{State: PGStopped, SysID: 7, WasPrimary: true, DiskFull: true}, View: ob.View}
	step(t, a, fa)
	fa.View.Leader, fa.View.Sync = "b", SyncKey{Leader: "b", Rev: 6}
	fa.View.Members = map[string]MemberRecord{"b": {Name: "b", State: "primary", Timeline: 2, CheckpointTimeline: 2}}
	for i := range 20 {
		fa.Now = at(time.Second + time.Duration(i)*time.Second)
		step(t, a, fa)
	}
	// Space again: rewind from b (a ran as primary), then follow it.
	fa.Local.DiskFull = false
	step(t, a, fa, "rewind b")
}

// TestDiskFullStandbyNotPromoted: a standby whose filesystem is full does
// not take the free lease (a promotion writes WAL), and a leader that is
// still a standby on a full disk gives the lease back.
func TestDiskFullStandbyNotPromoted(t *testing.T) {
	b := newTestMachine(t, "b", true, false)
	o := standbyObs(t0, 1000)
	o.Local.DiskFull = true
	step(t, b, o)
	o.Local.DiskFull = false
	step(t, b, o, "acquire @5")
	o.Local.DiskFull = true
	o.Lease = Lease{Held: true, RenewSent: t0}
	o.View.Leader = "b"
	step(t, b, o, "release")
}

// TestDiskFullPrimaryUpAgainStillCounts: a restart in place that comes
// up on a full disk and stops again at its next WAL segment hands over;
// it does not restart in a loop.
func TestDiskFullPrimaryUpAgainStillCounts(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.DiskFull = true
	o.Local.State = PGStopped
	step(t, a, o, "start-primary")
	o.Local.State = PGPrimary
	o.Now, o.Lease.RenewSent = at(time.Second), at(time.Second)
	step(t, a, o)
	o.Local.State = PGStopped
	o.Now, o.Lease.RenewSent = at(2*time.Second), at(2*time.Second)
	step(t, a, o, "release")
}

func TestSwitchoverMachine(t *testing.T) {
	a, b := newTestMachine(t, "a", true, false), newTestMachine(t, "b", true, false)
	req := &SwitchoverRequest{ID: "s1", From: "a", To: "b", At: t0}
	o := primaryObs(t0, t0)
	o.View.Switchover = req
	step(t, a, o, "checkpoint")
	o.Busy = ActCheckpoint
	step(t, a, o)
	o.Busy, o.Done = 0, []Result{{Kind: ActCheckpoint}}
	step(t, a, o, "stop")
	o.Done = nil
	o.Local.State, o.Local.CheckpointLSN, o.Local.Replicas = PGStopped, 1100, nil
	step(t, a, o) // b has not shown the shutdown checkpoint yet
	o.View.Members["b"] = rec("b", PGStandby, 1140)
	step(t, a, o, "mark-follower", "release")

	// b takes the free lease; a, stopped and marked, waits as a standby.
	ob := standbyObs(at(time.Second), 1140)
	ob.View.Switchover = req
	ob.View.Sync = SyncKey{Leader: "a", Standby: "b", Rev: 5}
	acts := step(t, b, ob, "acquire @5")
	if !strings.Contains(acts[0].Reason, "switchover from a") {
		t.Errorf("acquire reason = %q; want the switchover named", acts[0].Reason)
	}
	oa := Observation{Now: at(time.Second), Local: Local{State: PGStopped, SysID: 7}, View: ob.View}
	step(t, a, oa, "start-standby")
	oa.Local.State = PGStandby
	step(t, a, oa) // not eligible: it asked to hand over
}

func TestSwitchoverRefused(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.View.Switchover = &SwitchoverRequest{ID: "s1", From: "a", To: "c", At: t0}
	acts := step(t, a, o, "switchover-fail")
	if !strings.Contains(acts[0].Reason, "c does not stream") {
		t.Errorf("reason = %q", acts[0].Reason)
	}
	// A standby that is not the synchronous one must be nearly caught
	// up: writes wait while it catches up on the rest.
	o.Local.LSN = 3 << 20
	o.Local.Replicas = append(o.Local.Replicas, Replica{Name: "c", Streaming: true, Flush: 1 << 20})
	acts = step(t, a, o, "switchover-fail")
	if !strings.Contains(acts[0].Reason, "c is 2097152 bytes behind") {
		t.Errorf("reason = %q", acts[0].Reason)
	}
	// A stale request is ignored.
	o.Now = at(time.Minute)
	o.Lease.RenewSent = o.Now
	step(t, a, o)
}

func TestSwitchoverTimesOut(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.View.Switchover = &SwitchoverRequest{ID: "s1", From: "a", To: "b", At: t0}
	step(t, a, o, "checkpoint")
	o.Done = []Result{{Kind: ActCheckpoint}}
	step(t, a, o, "stop")
	o.Done = nil
	o.Local.State, o.Local.CheckpointLSN = PGStopped, 1100
	o.Now, o.Lease.RenewSent = at(31*time.Second), at(31*time.Second)
	step(t, a, o, "switchover-fail", "start-primary")
}

func TestRejoinRewindsThenClones(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := Observation{
		Now:   t0,
		Local: Local{State: PGStopped, SysID: 7, WasPrimary: true},
		View: View{Fresh: true, Init: InitKey{Holder: "a", SysID: 7}, Leader: "b",
			Members: map[string]MemberRecord{"b": rec("b", PGPrimary, 5000)}},
	}
	step(t, a, o, "rewind b")
	o.Busy = ActRewind
	step(t, a, o)
	o.Busy, o.Done = 0, []Result{{Kind: ActRewind, Err: errors.New("could not find common ancestor")}}
	step(t, a, o, "clone b") // the fallback needs no back-off
	o.Done = []Result{{Kind: ActClone}}
	o.Local.WasPrimary = false
	step(t, a, o, "start-standby b")
}

func TestRunningExPrimaryStopsToRewind(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := standbyObs(t0, 900)
	o.Local.WasPrimary = true
	o.Local.Upstream = ""
	o.View.Leader = "b"
	step(t, a, o, "stop")
}

func TestStandbyFollowsNewLeader(t *testing.T) {
	c := newTestMachine(t, "c", true, false)
	o := standbyObs(t0, 900)
	o.View.Leader = "b"
	o.View.Members = map[string]MemberRecord{"b": rec("b", PGPrimary, 1000)}
	step(t, c, o, "follow b")
}

func TestStalledStandbyIsRewound(t *testing.T) {
	c := newTestMachine(t, "c", true, false)
	o := standbyObs(t0, 900)
	o.View.Leader = "a"
	o.View.Members = map[string]MemberRecord{"a": rec("a", PGPrimary, 1000)}
	step(t, c, o)
	o.Now = at(31 * time.Second)
	step(t, c, o, "stop")
	o.Local.State = PGStopped
	step(t, c, o, "rewind a")
}

func TestForeignDataIsReplaced(t *testing.T) {
	b := newTestMachine(t, "b", true, false)
	o := Observation{
		Now:   t0,
		Local: Local{State: PGStopped, SysID: 99},
		View: View{Fresh: true, Init: InitKey{Holder: "a", SysID: 7}, Leader: "a",
			Members: map[string]MemberRecord{"a": rec("a", PGPrimary, 5000)}},
	}
	acts := step(t, b, o, "clone a")
	if !strings.Contains(acts[0].Reason, "system identifier 99") {
		t.Errorf("reason = %q", acts[0].Reason)
	}
}

func TestWithoutStoreStoppedMemberServesReads(t *testing.T) {
	b := newTestMachine(t, "b", true, false)
	o := standbyObs(t0, 900)
	o.View.Leader = "a"
	step(t, b, o)
	o.View.Fresh = false
	o.Local.State = PGStopped
	step(t, b, o, "start-standby a")
}

func TestBusyLeaderStillDemotes(t *testing.T) {
	a := newTestMachine(t, "a", false, false)
	o := primaryObs(at(2*time.Second), t0)
	o.Local.SyncNames = ""
	o.Busy = ActCheckpoint
	o.View.Fresh = false
	step(t, a, o, "forget-lease", "stop immediate")
}

func TestNewMachineRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{TTL: ttl}, {Name: "a"}, {Name: "a", TTL: ttl, Margin: ttl}} {
		if _, err := NewMachine(c); !errors.Is(err, ErrBadMachineConfig) {
			t.Errorf("NewMachine(%+v) = %v; want ErrBadMachineConfig", c, err)
		}
	}
}

func TestCheckpointAfterPromotionBeforeRewind(t *testing.T) {
	a := newTestMachine(t, "a", true, false)
	o := primaryObs(t0, t0)
	o.Local.Timeline = 2 // promoted; the last checkpoint is still on timeline 1
	step(t, a, o, "checkpoint")
	o.Busy = ActCheckpoint
	step(t, a, o)

	// Meanwhile the old primary waits to rewind until the checkpoint shows
	// the new timeline: pg_rewind reads it from there.
	b := newTestMachine(t, "b", true, false)
	ob := Observation{
		Now:   t0,
		Local: Local{State: PGStopped, SysID: 7, WasPrimary: true},
		View: View{Fresh: true, Init: InitKey{Holder: "a", SysID: 7}, Leader: "a",
			Members: map[string]MemberRecord{"a": {Name: "a", State: "primary", Timeline: 2, CheckpointTimeline: 1}}},
	}
	step(t, b, ob)
	ob.View.Members["a"] = MemberRecord{Name: "a", State: "primary", Timeline: 2, CheckpointTimeline: 2}
	step(t, b, ob, "rewind a")
}

func TestStreamingStandbyDoesNotTakeTheLease(t *testing.T) {
	b := newTestMachine(t, "b", true, false)
	o := standbyObs(t0, 900)
	o.Local.Streaming = true // the primary lost the store, not its standby: failsafe
	step(t, b, o)
	o.Local.Streaming = false
	step(t, b, o, "acquire @5")
}
