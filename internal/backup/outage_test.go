package backup

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestArchiveStoreOutage: with the S3 store down, archiving fails,
// PostgreSQL keeps the WAL and retries, and the archiver's status says how
// much is waiting and that the store is unreachable; once the store is
// back the backlog drains, the status clears, and a restore reaches the
// last write, so no segment went missing.
func TestArchiveStoreOutage(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	gw := startGateway(t)
	repo, err := NewRepository(gw.Store(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := testDir(t)
	p, a := archivingPrimary(t, repo, dir)
	p.insert("before")
	m := newManager(t, repo, p, dir, a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := m.RunBaseBackup(ctx); err != nil {
		t.Fatalf("RunBaseBackup = %v", err)
	}

	gw.Stop()
	var last string
	for i := range 4 {
		p.insert("during-" + strconv.Itoa(i))
		last = p.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())")
		p.exec("SELECT pg_switch_wal()")
	}
	waitFor(t, time.Minute, "archive failures", func() bool {
		n, _ := strconv.Atoi(p.queryString("SELECT failed_count::text FROM pg_stat_archiver"))
		return n >= 2 && a.Status().Failures >= 2
	})
	a.Refresh(ctx)
	st := a.Status()
	t.Logf("during the outage: %d segments (%d bytes) waiting, %d bytes free, store: %s; last failure: %s",
		st.WALWaiting, st.WALWaitingBytes, st.DiskFree, st.StoreError, st.LastFailure)
	if st.StoreReachable || st.StoreError == "" || st.WALWaiting < 4 || st.WALWaitingBytes < 4<<20 || st.DiskFree <= 0 || st.FailingSince.IsZero() {
		t.Errorf("status during the outage = %+v; want the store unreachable, >= 4 segments waiting, disk free known", st)
	}

	gw.Start()
	p.insert("after")
	p.switchWAL(repo) // also wakes PostgreSQL's archiver, which retries the backlog in order
	waitFor(t, time.Minute, "archiver caught up", func() bool {
		return p.queryString("SELECT (coalesce(last_archived_wal, '') >= '"+last+"')::text FROM pg_stat_archiver") == "true"
	})
	waitFor(t, time.Minute, "no WAL waiting", func() bool { a.Refresh(ctx); return a.Status().WALWaiting == 0 })
	st = a.Status()
	if !st.StoreReachable || st.WALWaiting != 0 || !st.FailingSince.IsZero() {
		t.Errorf("status after the outage = %+v; want the store reachable, nothing waiting, not failing", st)
	}
	got, _ := restoreNotes(t, m, filepath.Join(dir, "copy"), RestoreOptions{})
	if want := "before,during-0,during-1,during-2,during-3,after"; got != want {
		t.Errorf("restored after the outage: notes = %q; want %q", got, want)
	}
}
