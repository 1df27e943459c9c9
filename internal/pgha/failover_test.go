package pgha

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// failoverTrials is how many kills TestFailoverUnderLoad runs:
// PGHA_FAILOVERS, else 3 (the acceptance run sets 20 or more).
func failoverTrials(t *testing.T) int {
	if s := os.Getenv("PGHA_FAILOVERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PGHA_FAILOVERS=%q: want a positive number", s)
		}
		return n
	}
	if raceDetector {
		return 2 // a kill each way; timings are only reported under -race
	}
	return 3
}

// TestFailoverUnderLoad kills the primary's node (member abandoned, its
// postgres SIGKILLed, its etcd client gone) under a write every 10 ms,
// measures kill → first acknowledged write on the new primary, brings the
// old node back (pg_rewind) and checks that no acknowledged write was
// lost and no two primaries acknowledged at once.
func TestFailoverUnderLoad(t *testing.T) {
	skipShort(t)
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	trials := failoverTrials(t)
	var failovers, rejoins []time.Duration
	lostTotal, unackedTotal, acked := 0, 0, 0
	for i := range trials {
		old := tc.leader()
		next := "a"
		if old == "a" {
			next = "b"
		}
		w := startWriter(tc, "t"+strconv.Itoa(i))
		// A random phase against the lease renewals.
		time.Sleep(time.Second + rand.N(time.Second))
		killAt := tc.kill(old)
		first := w.waitAckAfter(t, killAt, old, 30*time.Second)
		failover := first.ack.Sub(killAt)
		failovers = append(failovers, failover)
		time.Sleep(500 * time.Millisecond)

		restart := time.Now()
		tc.start(old)
		tc.waitHealthy(next, 120*time.Second)
		rejoin := time.Since(restart)
		rejoins = append(rejoins, rejoin)
		w.stop()
		before := t.Failed()
		unacked := w.verify(t, next)
		if !before && t.Failed() {
			lostTotal++
		}
		unackedTotal += unacked
		n := 0
		for _, wr := range w.snapshot() {
			if wr.ok {
				n++
			}
		}
		acked += n
		t.Logf("trial %d: killed %s; %s took writes after %s; %s streaming and synchronous again after %s; %d writes acknowledged, %d unacknowledged but committed",
			i+1, old, next, failover.Round(time.Millisecond), old, rejoin.Round(time.Millisecond), n, unacked)
	}
	lo, med, hi := durations(failovers)
	rlo, rmed, rhi := durations(rejoins)
	t.Logf("SUMMARY failover (kill -> first acknowledged write on the new primary) over %d trials: min %s / median %s / max %s; rejoin min %s / median %s / max %s; %d acknowledged writes, %d trials lost any; %d unacknowledged writes committed",
		trials, lo.Round(time.Millisecond), med.Round(time.Millisecond), hi.Round(time.Millisecond),
		rlo.Round(time.Millisecond), rmed.Round(time.Millisecond), rhi.Round(time.Millisecond), acked, lostTotal, unackedTotal)
	if med >= 5*time.Second && !raceDetector {
		t.Errorf("median failover %s; want < 5s", med)
	}
}

// TestPostgresCrashRestartsInPlace kills only the primary's postmaster
// (tandem stays): the member holds its lease, restarts postgres in place
// (crash recovery) and leads again; nothing acknowledged is lost.
func TestPostgresCrashRestartsInPlace(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	w := startWriter(tc, "pgcrash")
	time.Sleep(time.Second)
	m := tc.members["a"].m
	pid := m.srv.pid()
	kids := childrenOf(pid)
	killAt := time.Now()
	killProcesses(pid, kids)
	first := w.waitAckAfter(t, killAt, "", 30*time.Second)
	if first.member != "a" {
		t.Errorf("writes resumed on %s; want a, restarted in place", first.member)
	}
	tc.waitHealthy("a", 60*time.Second)
	w.stop()
	w.verify(t, "a")
	t.Logf("postmaster killed; writes resumed on %s after %s", first.member, first.ack.Sub(killAt).Round(time.Millisecond))
}
