package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newManager makes a Manager backing up c into repo.
func newManager(t testing.TB, repo *Repository, c *cluster, dir string, a *Archiver) *Manager {
	t.Helper()
	m, err := New(Options{Repository: repo, Postgres: testEnv.pg, Archiver: a,
		Source:         func(context.Context) (string, string, error) { return "", c.connString(), nil },
		FastCheckpoint: true, PartSize: 256 << 10, ArchiveWait: time.Minute,
		ScratchDir: dir, Command: walCommand(), RecoveryTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// restoreNotes restores a copy to target and returns its notes.
func restoreNotes(t *testing.T, m *Manager, dir string, o RestoreOptions) (string, *CopyResult) {
	t.Helper()
	o.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := m.RestoreCopy(ctx, o)
	if err != nil {
		t.Fatalf("RestoreCopy(%+v) = %v", o, err)
	}
	c := openCopy(t, o.Dir)
	defer c.stop()
	if got := c.queryString("SHOW archive_mode"); got != "off" {
		t.Errorf("restored copy: archive_mode = %s; want off", got)
	}
	return c.notes(), res
}

// TestArchiveBackupPITR: WAL archived through the socket into a real S3
// store, a base backup streamed to it, then restores to two moments
// between known commits and to the end: each holds exactly the commits
// made before its target.
func TestArchiveBackupPITR(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	gw := startGateway(t)
	repo, err := NewRepository(gw.Store("shop/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := testDir(t)
	p, a := archivingPrimary(t, repo, dir)
	p.insert("a")
	m := newManager(t, repo, p, dir, a)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := m.RunBaseBackup(ctx)
	if err != nil {
		t.Fatalf("RunBaseBackup = %v", err)
	}
	t.Logf("backup %s: %d bytes of data, %d stored in %d parts, WAL %s..%s", b.ID, b.DataBytes, b.StoredBytes, len(b.Parts), b.StartWAL, b.StopWAL)
	if b.WALSegmentSize != 1<<20 || b.StartLSN == 0 || b.StopLSN < b.StartLSN || len(b.Parts) < 2 {
		t.Errorf("backup = %+v; want 1 MiB segments, start <= stop, several parts", b)
	}
	afterB := p.insert("b")
	afterC := p.insert("c")
	p.insert("d")
	p.switchWAL(repo)

	for _, tc := range []struct {
		name   string
		target time.Time
		want   string
	}{
		{"between b and c", afterB, "a,b"},
		{"between c and d", afterC, "a,b,c"},
		{"latest", time.Time{}, "a,b,c,d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res := restoreNotes(t, m, filepath.Join(dir, "copy-"+strings.ReplaceAll(tc.name, " ", "-")), RestoreOptions{Time: tc.target})
			if got != tc.want {
				t.Errorf("restored to %s: notes = %q; want %q", tc.target.Format(time.RFC3339Nano), got, tc.want)
			}
			if res.Backup.ID != b.ID || res.LSN < b.StopLSN {
				t.Errorf("restore used backup %s and reached %s; want %s and past %s", res.Backup.ID, res.LSN, b.ID, b.StopLSN)
			}
			t.Logf("restored point: lsn %s, last commit %s, timeline %d, %d bytes in %s", res.LSN, res.LastCommit.Format(time.RFC3339Nano), res.Timeline, res.Bytes, res.Took)
		})
	}
	// The copies promoted to new timelines; with archiving off they wrote
	// nothing into the archive.
	wal, err := repo.ListWAL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wal {
		if w.Name.Timeline != 1 {
			t.Errorf("archive holds %s: a restored copy archived into it", w.Name)
		}
	}
	st := a.Status()
	if st.Archived == 0 || st.LastArchived == "" || st.Failures != 0 {
		t.Errorf("archiver status = %+v; want files archived, no failure", st)
	}
	if ms := m.Status(); ms.LastGood == nil || ms.LastGood.Backup.ID != b.ID {
		t.Errorf("manager status last good backup = %+v; want %s", ms.LastGood, b.ID)
	}

	_, err = m.Restore(ctx, RestoreOptions{Dir: filepath.Join(dir, "too-early"), Time: b.StartTime.Add(-time.Hour)})
	if !errors.Is(err, ErrNoBackup) {
		t.Errorf("Restore to before the first backup = %v; want ErrNoBackup", err)
	}
	os.MkdirAll(filepath.Join(dir, "full", "x"), 0o700)
	if _, err := m.Restore(ctx, RestoreOptions{Dir: filepath.Join(dir, "full")}); !errors.Is(err, ErrDirNotEmpty) {
		t.Errorf("Restore into a non-empty directory = %v; want ErrDirNotEmpty", err)
	}
}

// TestArchiveTimeoutBoundsRPO: with no segment switch asked for, a commit
// reaches the archive within archive_timeout (here 2 s) plus the upload,
// also right after a restart (the harness reloads the configuration as
// the database driver must).
func TestArchiveTimeoutBoundsRPO(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pg := needPostgres(t)
	store, _ := NewLocalStore(filepath.Join(testDir(t), "store"))
	repo, _ := NewRepository(store, nil)
	dir := testDir(t)
	sock := filepath.Join(dir, "p.sock")
	if err := pg.mkdir(sock); err != nil {
		t.Fatal(err)
	}
	a := runArchiver(t, repo, filepath.Join(sock, "wal.sock"), filepath.Join(dir, "p"))
	p := newPrimary(t, dir, "p", append(archiving(filepath.Join(sock, "wal.sock")), "archive_timeout = 2s")...)
	p.exec("CREATE TABLE notes(id serial PRIMARY KEY, note text)")
	for round := range 2 {
		seg := p.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())")
		committed := time.Now()
		p.insert(fmt.Sprint("r", round))
		waitFor(t, 20*time.Second, "segment "+seg+" archived by archive_timeout", func() bool {
			_, err := store.Stat(context.Background(), walKey(seg))
			return err == nil
		})
		t.Logf("round %d: commit archived %s after it was made (archive_timeout 2s)", round, time.Since(committed).Round(time.Millisecond))
		if d := time.Since(committed); d > 10*time.Second {
			t.Errorf("commit reached the archive after %s; want within archive_timeout plus the upload", d)
		}
		p.stop()
		p = startCluster(t, pg, dir, "p")
	}
	if a.Status().Failures != 0 {
		t.Errorf("archiver failures: %+v", a.Status())
	}
}
