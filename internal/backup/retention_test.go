package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRetentionKeep(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	list := []Backup{ // daily backups, oldest first: 5, 4, 3, 2, 1 days ago, and today
		{ID: "d5", StopTime: now.Add(-5 * day)}, {ID: "d4", StopTime: now.Add(-4 * day)}, {ID: "d3", StopTime: now.Add(-3 * day)},
		{ID: "d2", StopTime: now.Add(-2 * day)}, {ID: "d1", StopTime: now.Add(-1 * day)}, {ID: "d0", StopTime: now.Add(-time.Hour)},
	}
	for _, tc := range []struct {
		r    Retention
		want string
	}{
		{Retention{}, "d5 d4 d3 d2 d1 d0"},
		{Retention{KeepBackups: 2}, "d1 d0"},
		{Retention{KeepBackups: 1}, "d0"},
		{Retention{KeepBackups: 100}, "d5 d4 d3 d2 d1 d0"},
		// 2.5 days: the backups of the last 2.5 days, and d3 to restore to
		// 2.5 days ago.
		{Retention{KeepFor: 60 * time.Hour}, "d3 d2 d1 d0"},
		{Retention{KeepFor: time.Minute}, "d0"},
		{Retention{KeepBackups: 4, KeepFor: 30 * time.Hour}, "d3 d2 d1 d0"},
	} {
		stops := make([]time.Time, len(list))
		for i, b := range list {
			stops[i] = b.StopTime
		}
		keep := tc.r.keep(stops, now)
		var got []string
		for i, k := range keep {
			if k {
				got = append(got, list[i].ID)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%+v keeps %v; want %s", tc.r, got, tc.want)
		}
	}
}

// TestApplyRetention: with three backups and two kept, the oldest backup
// and the WAL before the second one's start go; what the kept backups
// need stays, and the older kept backup still restores to the end.
func TestApplyRetention(t *testing.T) {
	t.Parallel()
	bu := newBackedUp(t, func(o *Options) { o.Retention = Retention{KeepBackups: 2} })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids := []string{bu.backup.ID}
	for i := range 2 {
		b, err := bu.m.RunBaseBackup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
		bu.p.insert(fmt.Sprint("after-", i))
		bu.p.switchWAL(bu.repo)
	}
	before, _ := bu.repo.ListWAL(ctx)
	second, err := bu.repo.Backup(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	res, err := bu.m.ApplyRetention(ctx)
	if err != nil {
		t.Fatalf("ApplyRetention = %v", err)
	}
	t.Logf("retention: kept %v (%d bytes), deleted %v (%d bytes); WAL kept %d (%d bytes), deleted %d (%d bytes) before %s",
		res.Kept, res.KeptBytes, res.Deleted, res.DeletedBytes, res.WALKept, res.WALKeptBytes, res.WALDeleted, res.WALDeletedBytes, res.OldestWAL)
	if fmt.Sprint(res.Deleted) != fmt.Sprint(ids[:1]) || fmt.Sprint(res.Kept) != fmt.Sprint(ids[1:]) {
		t.Fatalf("retention deleted %v, kept %v; want deleted %v, kept %v", res.Deleted, res.Kept, ids[:1], ids[1:])
	}
	if res.OldestWAL != second.StartWAL || res.WALDeleted == 0 || res.DeletedBytes == 0 || res.KeptBytes == 0 {
		t.Errorf("retention = %+v; want WAL before %s deleted, sizes reported", res, second.StartWAL)
	}
	first, _ := ParseWALName(second.StartWAL)
	after, _ := bu.repo.ListWAL(ctx)
	for _, w := range after {
		if w.Name.Kind != WALHistory && w.Name.Position() < first.Position() {
			t.Errorf("WAL %s, older than the oldest kept backup's start %s, was kept", w.Name, second.StartWAL)
		}
	}
	if len(before)-len(after) != res.WALDeleted {
		t.Errorf("archive went from %d to %d WAL files; retention says it deleted %d", len(before), len(after), res.WALDeleted)
	}
	n := 0
	bu.store.List(ctx, backupPrefix(ids[0]), func(ObjectInfo) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d objects of the deleted backup remain", n)
	}
	got, _ := restoreNotes(t, bu.m, filepath.Join(bu.dir, "copy"), RestoreOptions{BackupID: ids[1]})
	if got != "a,b,after-0,after-1" {
		t.Errorf("restore of the oldest kept backup: notes = %q; want a,b,after-0,after-1", got)
	}
}

// TestRetentionSweepsIncomplete: the parts of a backup that never got its
// description (failed, or its node died) are deleted once they are a day
// old; a backup younger than that may be in progress and stays.
func TestRetentionSweepsIncomplete(t *testing.T) {
	store, _ := NewLocalStore(t.TempDir())
	repo, _ := NewRepository(store, nil)
	now := time.Now()
	m, _ := New(Options{Repository: repo, Now: func() time.Time { return now }})
	ctx := context.Background()
	for _, k := range []string{"backups/old/data/000000", "backups/old/data/000001", "backups/new/data/000000"} {
		if _, err := putBytes(ctx, store, k, []byte("part"), true); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"backups/old/data/000000", "backups/old/data/000001"} {
		old := now.Add(-25 * time.Hour)
		os.Chtimes(store.path(k), old, old)
	}
	res, err := m.ApplyRetention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Incomplete) != "[old]" || res.DeletedBytes != 8 {
		t.Errorf("ApplyRetention = %+v; want the old incomplete backup (8 bytes) deleted", res)
	}
	var left []string
	store.List(ctx, "backups/", func(o ObjectInfo) error { left = append(left, o.Key); return nil })
	if fmt.Sprint(left) != "[backups/new/data/000000]" {
		t.Errorf("left %v; want only the recent incomplete backup", left)
	}
}
