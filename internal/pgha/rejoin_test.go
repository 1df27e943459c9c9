package pgha

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRejoin kills the primary, lets the new one take writes, and brings
// the old one back: with pg_rewind first (its data directory stays), then,
// after its WAL was removed so that a rewind cannot work, by a fresh
// clone (its data directory is moved aside, not deleted).
func TestRejoin(t *testing.T) {
	t.Parallel()
	skipShort(t)
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})

	rejoin := func(old, next string, breakRewind bool) time.Duration {
		w := startWriter(tc, "rejoin-"+old)
		time.Sleep(time.Second)
		killAt := tc.kill(old)
		w.waitAckAfter(t, killAt, old, 30*time.Second)
		time.Sleep(time.Second) // more writes on the new timeline
		w.stop()
		if breakRewind {
			wal, _ := filepath.Glob(filepath.Join(tc.members[old].dir, "data", "pg_wal", "0000*"))
			for _, f := range wal {
				os.Remove(f)
			}
		}
		start := time.Now()
		tc.start(old)
		tc.waitHealthy(next, 120*time.Second)
		took := time.Since(start)
		w.verify(t, next)
		return took
	}

	took := rejoin("a", "b", false)
	if old, _ := filepath.Glob(filepath.Join(tc.members["a"].dir, "data.old-*")); len(old) > 0 {
		t.Errorf("a was cloned (%v); want a rewind", old)
	}
	t.Logf("old primary back as a synchronous standby with pg_rewind after %s", took.Round(time.Millisecond))

	took = rejoin("b", "a", true)
	old, _ := filepath.Glob(filepath.Join(tc.members["b"].dir, "data.old-*"))
	if len(old) != 1 {
		t.Errorf("b's moved-aside data directories = %v; want one (rewind failed, cloned)", old)
	}
	t.Logf("old primary back after a failed rewind, by a fresh clone, after %s", took.Round(time.Millisecond))
}
