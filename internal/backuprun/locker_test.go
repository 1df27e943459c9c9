package backuprun

import (
	"errors"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/cron"
)

// TestLockerKeysApart: the backup jobs' locks live under backup/, apart
// from the stack's jobs' of the same names; a lock held elsewhere is
// cron's ErrLocked; a run's lock is released with it.
func TestLockerKeysApart(t *testing.T) {
	cl := clustertest.Start(t, "n1")
	ctx := t.Context()
	l := locker{cl: cl, node: "n1", prefix: lockKeys}

	// A firing: reserved for its window, under backup/.
	if _, err := l.TryLock(ctx, "backup/1700000000", time.Minute); err != nil {
		t.Fatalf("first firing lock: %v", err)
	}
	if _, err := l.TryLock(ctx, "backup/1700000000", time.Minute); !errors.Is(err, cron.ErrLocked) {
		t.Errorf("second firing lock = %v; want cron.ErrLocked", err)
	}
	if _, err := cl.TryLockFor(ctx, "backup/1700000000", "n2", time.Minute); err != nil {
		t.Errorf("the stack's job's lock of the same key = %v; want it free (apart from the backups')", err)
	}
	if _, err := cl.TryLockFor(ctx, "backup/backup/1700000000", "n2", time.Minute); !errors.Is(err, cluster.ErrLocked) {
		t.Errorf("backup/ + key = %v; want cluster.ErrLocked (the backups' lock)", err)
	}

	// A run: held by this node's session until released.
	run := cron.RunningKey + "backup"
	release, err := l.TryLock(ctx, run, time.Hour)
	if err != nil {
		t.Fatalf("run lock: %v", err)
	}
	if _, err := cl.TryLock(ctx, lockKeys+run, "n2"); !errors.Is(err, cluster.ErrLocked) {
		t.Errorf("another holder's lock of backup/%s = %v; want cluster.ErrLocked", run, err)
	}
	if _, err := l.TryLock(ctx, run, time.Hour); !errors.Is(err, cron.ErrLocked) {
		t.Errorf("second run lock = %v; want cron.ErrLocked", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	release, err = l.TryLock(ctx, run, time.Hour)
	if err != nil {
		t.Fatalf("run lock after release: %v", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
}
