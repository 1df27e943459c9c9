package pgha

import (
	"strings"
	"testing"
	"time"
)

// The site layout of these tests: a and b in the leader site home, c and
// d in the follower site cloud.
var testSites = map[string]string{"a": "home", "b": "home", "c": "cloud", "d": "cloud"}

func newSiteMachine(t *testing.T, name string, sync, crossSync bool) *Machine {
	t.Helper()
	m, err := NewMachine(Config{
		Name: name, Members: []string{"a", "b", "c", "d"}, Site: testSites[name], LeaderSite: "home",
		Synchronous: sync, CrossSiteSync: crossSync, TTL: ttl,
	})
	if err != nil {
		t.Fatalf("NewMachine = %v", err)
	}
	return m
}

func siteRec(name string, state PGState, lsn LSN) MemberRecord {
	r := rec(name, state, lsn)
	r.Site = testSites[name]
	return r
}

// sitePrimaryObs is a leading in home with b (home) and c (cloud)
// streaming; c has flushed more than b.
func sitePrimaryObs(now time.Time, syncStandby string) Observation {
	o := primaryObs(now, now)
	o.Local.Replicas = []Replica{
		{Name: "b", Streaming: true, Flush: 900, ReplyTime: now},
		{Name: "c", Streaming: true, Flush: 1000, ReplyTime: now},
	}
	o.Local.SyncNames = syncStandby
	o.Local.Slots = []string{"b", "c", "d"}
	o.View.Sync = SyncKey{Leader: "a", Standby: syncStandby, Rev: 5}
	o.View.Members = map[string]MemberRecord{"a": siteRec("a", PGPrimary, 1000), "b": siteRec("b", PGStandby, 900), "c": siteRec("c", PGStandby, 1000)}
	for i := range o.Local.Replicas {
		o.Local.Replicas[i].Sync = o.Local.Replicas[i].Name == syncStandby
	}
	return o
}

// TestSyncStandbyInPrimarysSite: the synchronous standby is in the
// primary's site, whatever another site's standby has flushed; without
// one there, the primary replicates asynchronously rather than wait on
// the link between sites.
func TestSyncStandbyInPrimarysSite(t *testing.T) {
	a := newSiteMachine(t, "a", true, false)
	o := sitePrimaryObs(t0, "")
	step(t, a, o, "set-sync-names [b]")
	o.Local.SyncNames = "b"
	o.Local.Replicas[0].Sync = true
	o.Local.Replicas[0].Flush = 1000
	step(t, a, o, "write-sync b@5")

	// b stops streaming: c, in the cloud, does not replace it.
	o = sitePrimaryObs(t0, "b")
	o.Local.Replicas = o.Local.Replicas[1:]
	step(t, a, o, "write-sync @5")
	o.View.Sync.Standby = ""
	step(t, a, o, "set-sync-names []")
}

// TestCrossSiteSyncStandby: with cross-site synchronous replication the
// other site's standby is the synchronous one, and the primary's own
// site's stands in while none streams from another site.
func TestCrossSiteSyncStandby(t *testing.T) {
	a := newSiteMachine(t, "a", true, true)
	o := sitePrimaryObs(t0, "")
	step(t, a, o, "set-sync-names [c]")
	o.Local.Replicas = o.Local.Replicas[:1] // only b streams
	step(t, a, o, "set-sync-names [b]")
}

// TestEmergencyPromotion: with the leader site declared unreachable, the
// most advanced standby of the follower site takes the free lease
// although the sync key names b; its cause says what it lost.
func TestEmergencyPromotion(t *testing.T) {
	c, d := newSiteMachine(t, "c", true, false), newSiteMachine(t, "d", true, false)
	live := standbyObs(t0, 900)
	live.View.Leader = "a"
	live.View.Members = map[string]MemberRecord{"a": siteRec("a", PGPrimary, 1500)}
	step(t, c, live) // follows a; remembers its position
	step(t, d, live)

	o := standbyObs(at(10*time.Second), 900)
	o.Local.Upstream = "a"
	o.View.Members = map[string]MemberRecord{"c": siteRec("c", PGStandby, 900), "d": siteRec("d", PGStandby, 800)}
	step(t, c, o) // no emergency: not the synchronous standby
	o.View.Emergency = &Emergency{Site: "home", Since: at(9 * time.Second), By: "w"}
	acts := step(t, c, o, "acquire @5")
	for _, want := range []string{"emergency: site home unreachable", "the leader lease of a expired", "600 bytes of WAL behind"} {
		if !strings.Contains(acts[0].Reason, want) {
			t.Errorf("cause = %q; want it to say %q", acts[0].Reason, want)
		}
	}
	od := o
	od.Local.LSN = 800
	step(t, d, od) // c has more WAL

	// A standby of the follower site still streams: the primary is alive.
	o.View.Members["d"] = MemberRecord{Name: "d", Site: "cloud", State: PGStandby.String(), LSN: 800, Streaming: true, Upstream: "a"}
	step(t, c, o)

	// Nobody in the site declared down takes it this way.
	b := newSiteMachine(t, "b", true, false)
	ob := standbyObs(at(10*time.Second), 2000)
	ob.View.Sync.Standby = "x"
	ob.View.Emergency = &Emergency{Site: "home"}
	step(t, b, ob)
}

// TestNoFailsafeInSameSite: a primary cut off from the store whose
// synchronous standby is in its own site is not kept by the failsafe:
// its whole site may be cut off while the follower site takes over. It
// stops before its lease can expire. A standby in another site keeps it.
func TestNoFailsafeInSameSite(t *testing.T) {
	a := newSiteMachine(t, "a", true, false)
	o := sitePrimaryObs(at(2*time.Second), "b")
	o.Lease.RenewSent = t0
	o.View.Fresh = false
	step(t, a, o, "forget-lease", "stop immediate")

	a = newSiteMachine(t, "a", true, true)
	for i := range 4 {
		o := sitePrimaryObs(at(time.Duration(i)*time.Second), "c")
		o.Lease.RenewSent = t0
		o.View.Fresh = false
		step(t, a, o)
	}
	if !a.Failsafe() {
		t.Error("Failsafe() = false with the synchronous standby in another site; want true")
	}
}

// TestAsyncFailoverStaysInSite: without an emergency an asynchronous
// cluster promotes in the last primary's site only, even a standby with
// less WAL than another site's.
func TestAsyncFailoverStaysInSite(t *testing.T) {
	b, c := newSiteMachine(t, "b", false, false), newSiteMachine(t, "c", false, false)
	live := standbyObs(t0, 900)
	live.View.Leader = "a"
	live.View.Sync = SyncKey{}
	live.View.Members = map[string]MemberRecord{"a": siteRec("a", PGPrimary, 1000)}
	step(t, b, live)
	step(t, c, live)

	o := standbyObs(at(5*time.Second), 900)
	o.View.Sync = SyncKey{}
	o.View.Members = map[string]MemberRecord{"b": siteRec("b", PGStandby, 900), "c": siteRec("c", PGStandby, 1000)}
	step(t, b, o, "acquire @0")
	oc := o
	oc.Local.LSN = 1000
	step(t, c, oc)
}

// TestFailbackSwitchoverToAnotherSite: an emergency leader in the cloud
// hands back to a home standby that is not its synchronous standby: it
// stops, waits until the target has the shutdown checkpoint, names it in
// the sync key (so it may take the lease) and only then releases.
func TestFailbackSwitchoverToAnotherSite(t *testing.T) {
	c := newSiteMachine(t, "c", true, false)
	o := Observation{
		Now: t0,
		Local: Local{State: PGPrimary, SysID: 7, Timeline: 2, CheckpointTimeline: 2, LSN: 5000, Slots: []string{"a", "b", "d"},
			Replicas: []Replica{{Name: "a", Streaming: true, Flush: 4990, ReplyTime: t0}}},
		View: View{Fresh: true, Init: InitKey{Holder: "a", SysID: 7}, Leader: "c", Sync: SyncKey{Leader: "c", Rev: 9},
			Members:    map[string]MemberRecord{"c": siteRec("c", PGPrimary, 5000), "a": siteRec("a", PGStandby, 4990)},
			Switchover: &SwitchoverRequest{ID: "f1", From: "c", To: "a", At: t0}},
		Lease: Lease{Held: true, RenewSent: t0},
	}
	step(t, c, o, "checkpoint")
	o.Done = []Result{{Kind: ActCheckpoint}}
	step(t, c, o, "stop")
	o.Done = nil
	o.Local = Local{State: PGStopped, SysID: 7, Timeline: 2, CheckpointLSN: 5100}
	step(t, c, o) // a has not shown the shutdown checkpoint yet
	o.View.Members["a"] = siteRec("a", PGStandby, 5200)
	step(t, c, o, "write-sync a@9")
	step(t, c, o) // asked already: waits to see the key
	o.View.Sync = SyncKey{Leader: "c", Standby: "a", Rev: 10}
	step(t, c, o, "mark-follower", "release")

	// a, named in the key, takes the free lease for the switchover.
	a := newSiteMachine(t, "a", true, false)
	oa := standbyObs(t0, 5200)
	oa.View.Sync = o.View.Sync
	oa.View.Switchover = o.View.Switchover
	acts := step(t, a, oa, "acquire @10")
	if !strings.Contains(acts[0].Reason, "switchover from c") {
		t.Errorf("cause = %q; want the switchover", acts[0].Reason)
	}
}

// TestStrictSuspendedOutsideLeaderSite: an emergency leader waits for no
// standby even in strict mode; the leader site's primary does.
func TestStrictSuspendedOutsideLeaderSite(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{{"a", []string{"set-sync-names [*]", "promote"}}, {"c", []string{"promote"}}} {
		m, err := NewMachine(Config{Name: tc.name, Members: []string{"a", "c"}, Site: testSites[tc.name], LeaderSite: "home",
			Synchronous: true, Strict: true, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		o := standbyObs(t0, 900)
		o.View.Leader = tc.name
		o.Lease = Lease{Held: true, RenewSent: t0}
		step(t, m, o, tc.want...)
	}
}

// TestRewindBeforeFollowingEmergencyLeader: b, the old primary's
// synchronous standby, may have WAL c never received: it rewinds once
// before following c, then follows it as any standby does.
func TestRewindBeforeFollowingEmergencyLeader(t *testing.T) {
	b := newSiteMachine(t, "b", true, false)
	o := standbyObs(t0, 1000)
	o.View.Leader = "c"
	o.View.Emergency = &Emergency{Site: "home"}
	c := siteRec("c", PGPrimary, 1200)
	c.Timeline, c.CheckpointTimeline = 2, 2
	o.View.Members = map[string]MemberRecord{"c": c}
	acts := step(t, b, o, "stop")
	if !strings.Contains(acts[0].Reason, "promoted in an emergency") {
		t.Errorf("reason = %q", acts[0].Reason)
	}
	o.Local = Local{State: PGStopped, SysID: 7, Timeline: 1}
	step(t, b, o, "rewind c")
	o.Done = []Result{{Kind: ActRewind}}
	step(t, b, o, "start-standby c")
	o.Done = nil
	o.Local = Local{State: PGStandby, SysID: 7, Timeline: 2, LSN: 1200, Upstream: "c", Streaming: true}
	step(t, b, o) // rewound for c already
}

// TestStandbyOnOldTimelineStalls: a standby whose WAL receiver keeps
// reconnecting (and so reports "streaming" now and then) but stays on an
// older timeline than its leader's is stalled: after StallTimeout it is
// stopped to be rewound.
func TestStandbyOnOldTimelineStalls(t *testing.T) {
	b := newTestMachine(t, "b", true, false)
	lead := rec("a", PGPrimary, 2000)
	lead.Timeline = 2
	for i := range 31 {
		o := standbyObs(at(time.Duration(i)*time.Second), 1000)
		o.View.Leader = "a"
		o.View.Members = map[string]MemberRecord{"a": lead}
		o.Local.Timeline, o.Local.Streaming = 1, i%2 == 0
		if i < 30 {
			step(t, b, o)
			continue
		}
		step(t, b, o, "stop")
	}
}
