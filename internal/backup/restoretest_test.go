package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backedUp is a primary archiving into a local store, with one base
// backup taken and more writes archived after it.
type backedUp struct {
	store  *LocalStore
	repo   *Repository
	p      *cluster
	m      *Manager
	dir    string
	backup *Backup
	after  string // a segment archived after the backup
}

func newBackedUp(t *testing.T, o func(*Options)) *backedUp {
	needPostgres(t)
	dir := testDir(t)
	store, err := NewLocalStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := NewRepository(store, nil)
	p, a := archivingPrimary(t, repo, dir)
	p.insert("a")
	m := newManager(t, repo, p, dir, a)
	if o != nil {
		o(&m.opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := m.RunBaseBackup(ctx)
	if err != nil {
		t.Fatalf("RunBaseBackup = %v", err)
	}
	p.insert("b")
	after := p.switchWAL(repo)
	return &backedUp{store: store, repo: repo, p: p, m: m, dir: dir, backup: b, after: after}
}

// TestRunRestoreTest: the restore test restores the newest backup and all
// WAL, runs the sanity query and the app's check (which reaches the copy
// through DATABASE_URL), reports the restored point, and leaves nothing
// behind.
func TestRunRestoreTest(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	check := []string{"/bin/sh", "-c", `test "$(` + testEnv.pg.BinDir + `/psql "$DATABASE_URL" -Atc "SELECT string_agg(note, ',' ORDER BY id) FROM notes")" = a,b`}
	bu := newBackedUp(t, func(o *Options) { o.CheckCommand = check })
	lastCommit := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := bu.m.RunRestoreTest(ctx)
	if err != nil {
		t.Fatalf("RunRestoreTest = %v (check output: %s)", err, res.Check)
	}
	t.Logf("restore test: backup %s, %d bytes, lsn %s, last commit %s, lag %s, sanity %s, took %s",
		res.BackupID, res.Bytes, res.LSN, res.LastCommit.Format(time.RFC3339Nano), res.Lag, res.Sanity, res.Took)
	if !res.OK || res.BackupID != bu.backup.ID || res.LSN <= bu.backup.StopLSN || res.Sanity == "" {
		t.Errorf("restore test = %+v; want OK, backup %s, replay past %s, a sanity answer", res, bu.backup.ID, bu.backup.StopLSN)
	}
	if d := res.LastCommit.Sub(lastCommit); d > 0 || d < -time.Minute {
		t.Errorf("restored point %s; want the last commit, just before %s", res.LastCommit, lastCommit)
	}
	if st := bu.m.Status(); st.LastTest == nil || !st.LastTest.OK {
		t.Errorf("status after the restore test: %+v; want the passed test", st.LastTest)
	}
	entries, _ := os.ReadDir(bu.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "restore-test-") {
			t.Errorf("scratch directory %s left behind", e.Name())
		}
	}
	// Another node's manager learns of the backup and the test from the
	// repository.
	other, _ := New(Options{Repository: bu.repo})
	if err := other.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := other.Status(); st.LastGood == nil || st.LastGood.Backup.ID != bu.backup.ID || st.LastTest == nil || st.LastTest.ID != res.ID {
		t.Errorf("another node's status after Refresh = %+v; want backup %s and restore test %s", st, bu.backup.ID, res.ID)
	}

	// A failing check fails the test, with its output.
	bu.m.opts.CheckCommand = []string{"/bin/sh", "-c", "echo app data missing; exit 3"}
	res, err = bu.m.RunRestoreTest(ctx)
	if err == nil || res.OK || !strings.Contains(res.Err, "app data missing") {
		t.Errorf("RunRestoreTest with a failing check = %v, %+v; want an error with the check's output", err, res)
	}
}

// TestCorruptObjectDetected: a damaged backup part or WAL segment stops a
// restore and a restore test with an error naming the object.
func TestCorruptObjectDetected(t *testing.T) {
	t.Parallel()
	bu := newBackedUp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wantCorrupt := func(t *testing.T, what string, err error, key string) {
		t.Helper()
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Key != key {
			t.Fatalf("%s = %v; want a *CorruptError naming %s", what, err, key)
		}
		t.Logf("%s: %v", what, ce)
	}

	t.Run("wal segment", func(t *testing.T) {
		key := walKey(bu.after)
		flipByte(t, bu.store.path(key))
		defer flipByte(t, bu.store.path(key))
		_, err := bu.m.RestoreCopy(ctx, RestoreOptions{Dir: filepath.Join(bu.dir, "copy-wal")})
		wantCorrupt(t, "RestoreCopy", err, key)
		res, err := bu.m.RunRestoreTest(ctx)
		wantCorrupt(t, "RunRestoreTest", err, key)
		if res.OK || !strings.Contains(res.Err, key) {
			t.Errorf("restore test result = %+v; want failed, naming %s", res, key)
		}
	})
	t.Run("backup part", func(t *testing.T) {
		key := bu.backup.Parts[0].Key
		flipByte(t, bu.store.path(key))
		defer flipByte(t, bu.store.path(key))
		_, err := bu.m.Restore(ctx, RestoreOptions{Dir: filepath.Join(bu.dir, "copy-part")})
		wantCorrupt(t, "Restore", err, key)
		if _, err := os.Stat(filepath.Join(bu.dir, "copy-part")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed restore left its directory behind (%v)", err)
		}
		_, err = bu.m.RunRestoreTest(ctx)
		wantCorrupt(t, "RunRestoreTest", err, key)
	})
	t.Run("wal the backup needs", func(t *testing.T) {
		key := walKey(bu.backup.StopWAL)
		flipByte(t, bu.store.path(key))
		defer flipByte(t, bu.store.path(key))
		_, err := bu.m.Restore(ctx, RestoreOptions{Dir: filepath.Join(bu.dir, "copy-stopwal")})
		wantCorrupt(t, "Restore", err, key)
	})
	// Undamaged again, it restores.
	got, _ := restoreNotes(t, bu.m, filepath.Join(bu.dir, "copy-ok"), RestoreOptions{})
	if got != "a,b" {
		t.Errorf("notes = %q; want a,b", got)
	}
}

// TestRestoreBootstrap: the cluster lost, a new primary is bootstrapped
// from the backup; started by the database driver (here the test) with
// the node's archiver serving its WAL, it recovers to the end of the
// archive, promotes and goes on archiving into the same archive on a new
// timeline.
func TestRestoreBootstrap(t *testing.T) {
	t.Parallel()
	bu := newBackedUp(t, nil)
	bu.p.insert("c")
	bu.p.switchWAL(bu.repo)
	bu.p.crash()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	socket := filepath.Join(bu.dir, "p.sock", "wal.sock") // the node's archiver
	res, err := bu.m.Restore(ctx, RestoreOptions{Dir: filepath.Join(bu.dir, "boot"), Bootstrap: true, Socket: socket})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Settings {
		if strings.HasPrefix(s, "archive_mode") {
			t.Errorf("bootstrap restore wrote %q; archiving must stay as configured", s)
		}
	}
	boot := startCluster(t, testEnv.pg, bu.dir, "boot")
	waitFor(t, time.Minute, "promotion", func() bool { return boot.queryString("SELECT pg_is_in_recovery()::text") == "false" })
	if got := boot.notes(); got != "a,b,c" {
		t.Errorf("bootstrapped primary: notes = %q; want a,b,c", got)
	}
	boot.insert("d")
	seg := boot.switchWAL(bu.repo)
	if n, _ := ParseWALName(seg); n.Timeline != 2 {
		t.Errorf("bootstrapped primary archived %s; want timeline 2", seg)
	}
	if _, err := bu.store.Stat(ctx, walKey("00000002.history")); err != nil {
		t.Errorf("timeline 2's history not archived: %v", err)
	}
}
