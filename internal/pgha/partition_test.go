package pgha

import (
	"testing"
	"time"
)

// waitEvent returns member tm's next event of kind.
func waitEvent(t *testing.T, tm *testMember, kind EventKind, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-tm.events:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: no %s event within %s", tm.name, kind, timeout)
		}
	}
}

// lostWrites counts w's acknowledged writes missing on member n.
func lostWrites(t *testing.T, tc *testCluster, n string, w *writer) int {
	present := w.present(t, n)
	lost := 0
	for _, a := range w.acks() {
		if !present[a.id] {
			lost++
		}
	}
	return lost
}

// TestFailsafeThroughStoreOutage cuts every member from etcd: nobody can
// hold a lease, and the primary, whose synchronous standby still streams
// and replies, keeps accepting writes (Patroni's failsafe) instead of
// taking the database down with the control plane. When etcd is back it
// takes its lease again; nothing acknowledged is lost.
func TestFailsafeThroughStoreOutage(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	w := startWriter(tc, "outage")
	time.Sleep(time.Second)
	cutAt := time.Now()
	tc.members["a"].etcd.cut()
	tc.members["b"].etcd.cut()
	time.Sleep(3 * DefaultTTL)
	late := 0
	for _, a := range w.acks() {
		if a.sent.After(cutAt.Add(DefaultTTL)) {
			if a.member != "a" {
				t.Fatalf("write %d acknowledged by %s during the outage; want a only", a.id, a.member)
			}
			late++
		}
	}
	if late < 100 {
		t.Errorf("%d writes acknowledged by a more than a TTL into the outage; want it to keep accepting (~200)", late)
	}
	if st := tc.status("a"); !st.Failsafe || st.Role != "primary" {
		t.Errorf("a's status during the outage: role %s failsafe %v; want primary through the failsafe", st.Role, st.Failsafe)
	}
	if st := tc.status("b"); st.Role != "standby" {
		t.Errorf("b's role during the outage: %s; want standby", st.Role)
	}
	tc.members["a"].etcd.restore()
	tc.members["b"].etcd.restore()
	tc.waitHealthy("a", 30*time.Second)
	w.stop()
	w.verify(t, "a")
	t.Logf("etcd cut for %s: a acknowledged %d writes sent more than a TTL into the outage", 3*DefaultTTL, late)
}

// TestFailsafePrimaryCutFromStoreOnly cuts only the primary from etcd: its
// standby still streams from it, so it does not take the lease, the
// primary keeps running, and the routes of the node that still reaches
// etcd keep pointing at it.
func TestFailsafePrimaryCutFromStoreOnly(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	w := startWriter(tc, "cut-a")
	tc.members["a"].etcd.cut()
	time.Sleep(3 * DefaultTTL)
	if st := tc.status("a"); !st.Failsafe || st.Role != "primary" {
		t.Errorf("a: role %s failsafe %v; want primary through the failsafe", st.Role, st.Failsafe)
	}
	stb := tc.status("b")
	if stb.Role != "standby" || stb.Leader != "" {
		t.Errorf("b: role %s, leader %q; want standby, no lease holder", stb.Role, stb.Leader)
	}
	if r, _ := tc.members["b"].m.Routes(); r.Primary != tc.members["a"].peer.addr() {
		t.Errorf("b's routes: primary %q; want a (%s), kept by the failsafe", r.Primary, tc.members["a"].peer.addr())
	}
	tc.members["a"].etcd.restore()
	tc.waitHealthy("a", 30*time.Second)
	w.stop()
	w.verify(t, "a")
}

// TestPrimaryCutFromAllDemotes cuts the primary from etcd and from its
// standby. It must stop accepting writes before its lease can expire,
// and the standby takes over only after that: writers on both sides show
// at most one side acknowledging at any moment. In synchronous mode no
// acknowledged write is lost; in asynchronous mode the writes the standby
// had not received are (reported, as documented).
func TestPrimaryCutFromAllDemotes(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, async := range []bool{false, true} {
		name := "synchronous"
		if async {
			name = "asynchronous"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a", asynchronous: async})
			wa := startPinnedWriter(tc, "side-a", "a")
			wb := startPinnedWriter(tc, "side-b", "b")
			time.Sleep(time.Second)
			cutAt := time.Now()
			tc.members["a"].etcd.cut()
			tc.members["a"].peer.cut()
			first := wb.waitAckAfter(t, cutAt, "", 30*time.Second)
			demoted := waitEvent(t, tc.members["a"], EventDemoted, 10*time.Second).Time
			aAcks := wa.acks()
			last := aAcks[len(aAcks)-1]
			t.Logf("cut at %s; a demoted after %s; a's last ack %s after the cut; b's first ack %s after the cut",
				cutAt.Format("15:04:05.000"), demoted.Sub(cutAt).Round(time.Millisecond),
				last.ack.Sub(cutAt).Round(time.Millisecond), first.ack.Sub(cutAt).Round(time.Millisecond))
			if demoted.Sub(cutAt) >= DefaultTTL {
				t.Errorf("a demoted %s after the cut; want before its lease (TTL %s) could expire", demoted.Sub(cutAt), DefaultTTL)
			}
			if !last.ack.Before(first.sent) {
				t.Errorf("a acknowledged write %d at %s, after b took write %d (sent %s): two primaries",
					last.id, last.ack.Format("15:04:05.000"), first.id, first.sent.Format("15:04:05.000"))
			}
			tc.members["a"].etcd.restore()
			tc.members["a"].peer.restore()
			tc.waitHealthy("b", 120*time.Second)
			wa.stop()
			wb.stop()
			if async {
				lost := lostWrites(t, tc, "b", wa)
				t.Logf("asynchronous mode: %d of a's acknowledged writes lost (its WAL past what b had received)", lost)
			} else {
				wa.verify(t, "b")
			}
			wb.verify(t, "b")
		})
	}
}
