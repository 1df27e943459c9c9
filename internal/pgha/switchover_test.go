package pgha

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestSwitchover hands the primary over and back under a write every
// 10 ms: writes pause for under a second, nothing acknowledged is lost,
// and the old primary follows the new one without a rewind.
func TestSwitchover(t *testing.T) {
	skipShort(t)
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	for i, step := range []struct{ from, to, ask string }{{"a", "b", "b"}, {"b", "a", "b"}} {
		w := startWriter(tc, "so"+step.to)
		time.Sleep(time.Second)
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err := tc.members[step.ask].m.Switchover(ctx, step.to)
		cancel()
		if err != nil {
			t.Fatalf("Switchover(%s) = %v", step.to, err)
		}
		took := time.Since(start)
		w.waitAckAfter(t, time.Now(), step.from, 10*time.Second)
		w.stop()
		tc.waitHealthy(step.to, 60*time.Second)
		w.verify(t, step.to)
		pause := longestPause(w.acks(), start.Add(-time.Second))
		t.Logf("switchover %d %s -> %s: request answered after %s; longest pause between acknowledged writes %s",
			i+1, step.from, step.to, took.Round(time.Millisecond), pause.Round(time.Millisecond))
		if limit := pauseLimit(); pause >= limit {
			t.Errorf("writes paused %s; want < %s", pause, limit)
		}
		if old, _ := filepath.Glob(filepath.Join(tc.members[step.from].dir, "data.old-*")); len(old) > 0 {
			t.Errorf("%s was cloned after the switchover (%v); want it to follow as it is", step.from, old)
		}
	}
	// Refusals.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tc.members["a"].m.Switchover(ctx, "a"); !errors.Is(err, ErrSwitchoverRefused) {
		t.Errorf("Switchover to the primary = %v; want ErrSwitchoverRefused", err)
	}
	if err := tc.members["a"].m.Switchover(ctx, "zz"); !errors.Is(err, ErrSwitchoverRefused) {
		t.Errorf("Switchover to a non-member = %v; want ErrSwitchoverRefused", err)
	}
	tc.waitHealthy("a", 10*time.Second)
}

// pauseLimit is the switchover's target, 1 s; the race detector slows
// tandem too much to hold it (3.6 s was seen beside the other packages'
// tests), so there the pause is reported and fails only far beyond it.
func pauseLimit() time.Duration {
	if raceDetector {
		return 10 * time.Second
	}
	return time.Second
}

// longestPause is the longest time between consecutive acknowledgements
// after from.
func longestPause(acks []write, from time.Time) time.Duration {
	var longest time.Duration
	var prev time.Time
	for _, a := range acks {
		if a.ack.Before(from) {
			continue
		}
		if !prev.IsZero() && a.ack.Sub(prev) > longest {
			longest = a.ack.Sub(prev)
		}
		prev = a.ack
	}
	return longest
}
