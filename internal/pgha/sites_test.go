package pgha

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestEmergencyAcrossSites runs a and b in the leader site home
// (synchronous to each other) and c in the follower site cloud
// (asynchronous), under writes pinned to a and to c. Home is cut off
// from etcd and from c: a stops accepting writes before its lease can
// expire, and nobody takes the lease — c is not the synchronous standby
// — until the test declares the emergency (as the sites controller does
// under quorum): then c is promoted, and the writes a acknowledged that
// c had not received are counted as lost. Home comes back and rejoins
// c; a planned switchover back to a (the failback) pauses writes under
// a second and loses nothing.
func TestEmergencyAcrossSites(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tc := newTestCluster(t, clusterSpec{names: []string{"a", "b", "c"}, seed: "a",
		sites: map[string]string{"a": "home", "b": "home", "c": "cloud"}, leaderSite: "home"})
	tc.waitHealthy("a", 90*time.Second)
	createProbeTable(t, tc, "a")
	if st := tc.status("a"); st.SyncStandby != "b" {
		t.Fatalf("synchronous standby = %q; want b, in the primary's site", st.SyncStandby)
	}
	wa := startPinnedWriter(tc, "home", "a")
	wc := startPinnedWriter(tc, "cloud", "c")
	time.Sleep(time.Second)

	cutAt := time.Now()
	for _, n := range []string{"a", "b"} {
		tc.members[n].etcd.cut()
		tc.members[n].peer.cut()
	}
	demoted := waitEvent(t, tc.members["a"], EventDemoted, 10*time.Second).Time
	if d := demoted.Sub(cutAt); d >= DefaultTTL {
		t.Errorf("a demoted %s after the cut; want before its lease (TTL %s) could expire", d, DefaultTTL)
	}
	time.Sleep(2 * DefaultTTL)
	if st := tc.status("c"); st.Role != "standby" || st.Leader != "" {
		t.Fatalf("c without an emergency: role %s, leader %q; want a standby and no leader", st.Role, st.Leader)
	}

	declared := time.Now()
	rec, _ := json.Marshal(Emergency{Site: "home", Since: declared, By: "test", Cause: "home unreachable"})
	if err := tc.etcd.c.PutEmergency(t.Context(), rec, 0); err != nil {
		t.Fatal(err)
	}
	first := wc.waitAckAfter(t, declared, "", 30*time.Second)
	ev := waitEvent(t, tc.members["c"], EventEmergency, 10*time.Second)
	aAcks := wa.acks()
	last := aAcks[len(aAcks)-1]
	if !last.ack.Before(first.sent) {
		t.Errorf("a acknowledged write %d at %s, after c took write %d (sent %s): two sites accepting writes",
			last.id, last.ack.Format("15:04:05.000"), first.id, first.sent.Format("15:04:05.000"))
	}
	wa.stop()
	lost := lostWrites(t, tc, "c", wa)
	t.Logf("home cut at %s: a demoted after %s; emergency declared %s after the cut; c acknowledged its first write %s later (%s); %d of a's %d acknowledged writes lost (cause: %s)",
		cutAt.Format("15:04:05.000"), demoted.Sub(cutAt).Round(time.Millisecond), declared.Sub(cutAt).Round(time.Millisecond),
		first.ack.Sub(declared).Round(time.Millisecond), first.member, lost, len(aAcks), ev.Cause)

	// Home returns and follows the emergency leader.
	for _, n := range []string{"a", "b"} {
		tc.members[n].etcd.restore()
		tc.members[n].peer.restore()
	}
	waitFor(t, 120*time.Second, "a and b streaming from c on its timeline", func() bool {
		st := tc.status("c")
		a, okA := findMember(st, "a")
		b, okB := findMember(st, "b")
		c, okC := findMember(st, "c")
		return st.Leader == "c" && okA && okB && okC && a.Streaming && b.Streaming && a.LagBytes < 1<<20 &&
			a.Timeline == c.Timeline && b.Timeline == c.Timeline
	})
	if st := tc.status("c"); st.SyncStandby != "" {
		t.Errorf("emergency leader's synchronous standby = %q; want none: cross-site replication is asynchronous", st.SyncStandby)
	}

	// Failback: a planned switchover to a.
	w := startWriter(tc, "failback")
	time.Sleep(time.Second)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	err := tc.members["b"].m.Switchover(ctx, "a")
	cancel()
	if err != nil {
		t.Fatalf("Switchover(a) = %v", err)
	}
	w.waitAckAfter(t, time.Now(), "c", 10*time.Second)
	w.stop()
	wc.stop()
	w.verify(t, "a")
	wc.verify(t, "a")
	tc.waitHealthy("a", 60*time.Second)
	if st := tc.status("a"); st.SyncStandby != "b" {
		t.Errorf("after failback the synchronous standby = %q; want b again", st.SyncStandby)
	}
	pause := longestPause(w.acks(), start.Add(-time.Second))
	t.Logf("failback c -> a: longest pause between acknowledged writes %s; every acknowledged write present on a", pause.Round(time.Millisecond))
	if limit := pauseLimit(); pause >= limit {
		t.Errorf("writes paused %s in the failback; want < %s", pause, limit)
	}
}
