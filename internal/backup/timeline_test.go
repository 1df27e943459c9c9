package backup

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestPITRAcrossTimelineSwitch: a primary and a streaming standby archive
// into the same (encrypted) archive through their own archivers; the
// primary crashes, the standby is promoted and goes on writing on
// timeline 2. A restore from the timeline-1 backup to a moment after the
// switch follows the .history file and holds exactly the commits before
// its target.
func TestPITRAcrossTimelineSwitch(t *testing.T) {
	t.Parallel()
	pg := needPostgres(t)
	store, err := NewLocalStore(filepath.Join(testDir(t), "store"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := NewRepository(store, bytes.Repeat([]byte{0x5a}, EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := testDir(t)
	sockP, sockS := filepath.Join(dir, "p.sock"), filepath.Join(dir, "s.sock")
	for _, d := range []string{sockP, sockS} {
		if err := pg.mkdir(d); err != nil {
			t.Fatal(err)
		}
	}
	aP := runArchiver(t, repo, filepath.Join(sockP, "wal.sock"), filepath.Join(dir, "p"))
	aS := runArchiver(t, repo, filepath.Join(sockS, "wal.sock"), filepath.Join(dir, "s"))
	p := newPrimary(t, dir, "p", archiving(filepath.Join(sockP, "wal.sock"))...)
	p.exec("CREATE TABLE notes(id serial PRIMARY KEY, note text)")
	p.insert("a")
	m := newManager(t, repo, p, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := m.RunBaseBackup(ctx)
	if err != nil {
		t.Fatalf("RunBaseBackup = %v", err)
	}

	// A standby streaming from p, archiving through its own archiver
	// once promoted.
	if err := pg.mkdir(filepath.Join(dir, "s")); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.run(ctx, "pg_basebackup", "-d", p.connString(), "-D", filepath.Join(dir, "s"), "-R",
		"--wal-method=stream", "--checkpoint=fast"); err != nil {
		t.Fatal(err)
	}
	// archive_mode = always: the standby archives what it receives too,
	// the same segments as the primary, which must not conflict.
	s := startCluster(t, pg, dir, "s", append(archiving(filepath.Join(sockS, "wal.sock")), "archive_mode = always")...)
	p.insert("b")
	p.switchWAL(repo)
	p.insert("c")
	lsn := p.queryString("SELECT pg_current_wal_lsn()::text")
	waitFor(t, time.Minute, "standby replays "+lsn, func() bool {
		return s.queryString("SELECT (pg_last_wal_replay_lsn() >= '"+lsn+"')::text") == "true"
	})
	p.crash() // c is in a segment p never archived: only the standby has it
	s.exec("SELECT pg_promote(true, 60)")
	afterD := s.insert("d")
	s.insert("e")
	s.switchWAL(repo)

	wal, err := repo.ListWAL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var history, partial bool
	for _, w := range wal {
		history = history || w.Name.Kind == WALHistory && w.Name.Timeline == 2
		partial = partial || w.Name.Kind == WALPartial && w.Name.Timeline == 1
	}
	if !history || !partial {
		t.Fatalf("archive = %v; want 00000002.history and a timeline-1 .partial segment", wal)
	}
	for name, a := range map[string]*Archiver{"primary": aP, "standby": aS} {
		if st := a.Status(); st.Conflicts != 0 || st.Archived == 0 {
			t.Errorf("%s archiver: %+v; want files archived, no conflict", name, st)
		}
	}
	got, res := restoreNotes(t, m, filepath.Join(dir, "copy"), RestoreOptions{Time: afterD})
	if got != "a,b,c,d" {
		t.Errorf("restored across the timeline switch to after d: notes = %q; want \"a,b,c,d\"", got)
	}
	if res.Backup.ID != b.ID || res.Timeline < 3 {
		t.Errorf("restore from backup %s ended on timeline %d; want backup %s (timeline 1) and a timeline after 2", res.Backup.ID, res.Timeline, b.ID)
	}
	got, _ = restoreNotes(t, m, filepath.Join(dir, "copy-latest"), RestoreOptions{})
	if got != "a,b,c,d,e" {
		t.Errorf("restored across the timeline switch to the end: notes = %q; want \"a,b,c,d,e\"", got)
	}
}
