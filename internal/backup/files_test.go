package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFileSets: an uploads directory and a SQLite database written to
// while it is copied are stored, restored and verified like the database;
// retention prunes their snapshots with the same rules.
func TestFileSets(t *testing.T) {
	dir := t.TempDir()
	uploads := filepath.Join(dir, "uploads")
	os.MkdirAll(filepath.Join(uploads, "2026", "12"), 0o755)
	files := map[string][]byte{"a.txt": []byte("hello"), "2026/12/photo.jpg": randomBytes(300 << 10), "empty": nil}
	for name, b := range files {
		os.WriteFile(filepath.Join(uploads, filepath.FromSlash(name)), b, 0o640)
	}
	os.Symlink("/etc/passwd", filepath.Join(uploads, "link"))

	dbPath := filepath.Join(dir, "wiki.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE pages(id INTEGER PRIMARY KEY, body TEXT)"); err != nil {
		t.Fatal(err)
	}
	// A writer keeps the database busy while it is backed up.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			db.ExecContext(ctx, "INSERT INTO pages(body) VALUES (?)", strings.Repeat("x", 1000))
		}
	})
	waitFor(t, 10*time.Second, "rows", func() bool {
		var n int
		db.QueryRow("SELECT count(*) FROM pages").Scan(&n)
		return n > 100
	})

	store, _ := NewLocalStore(filepath.Join(dir, "store"))
	repo, _ := NewRepository(store, bytes.Repeat([]byte{1}, EncryptionKeySize))
	clock := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	m, err := New(Options{Repository: repo, ScratchDir: dir, PartSize: 128 << 10, Retention: Retention{KeepBackups: 1},
		Files: []FileSet{{Name: "uploads", Dir: uploads}, {Name: "wiki-db", SQLite: dbPath}},
		Now:   func() time.Time { clock = clock.Add(time.Minute); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := m.RunFileBackup(context.Background())
	cancel()
	wg.Wait()
	if err != nil || len(snaps) != 2 {
		t.Fatalf("RunFileBackup = %v, %v; want two snapshots", snaps, err)
	}
	if s := snaps[0]; s.Files != 3 || fmt.Sprint(s.Skipped) != "[link]" || len(s.Parts) < 2 {
		t.Errorf("uploads snapshot = %+v; want 3 files, the link skipped, several parts", s)
	}

	restored := filepath.Join(dir, "restored")
	if _, err := m.RestoreFiles(context.Background(), "uploads", "", restored); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(restored, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
	if _, err := os.Lstat(filepath.Join(restored, "link")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("symbolic link restored (%v)", err)
	}

	res, err := m.RunRestoreTest(context.Background())
	if err != nil || len(res.Files) != 2 || !strings.Contains(res.Files[1], "integrity ok") {
		t.Fatalf("RunRestoreTest = %+v, %v; want both sets checked, sqlite integrity ok", res, err)
	}
	t.Logf("restore test: %q", res.Files)

	flipByte(t, store.path(snaps[1].Parts[0].Key))
	_, err = m.RestoreFiles(context.Background(), "wiki-db", "", filepath.Join(dir, "restored-db"))
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Key != snaps[1].Parts[0].Key {
		t.Errorf("RestoreFiles of a damaged snapshot = %v; want a *CorruptError naming %s", err, snaps[1].Parts[0].Key)
	}
	flipByte(t, store.path(snaps[1].Parts[0].Key))

	if _, err := m.RunFileBackup(context.Background()); err != nil {
		t.Fatal(err)
	}
	ret, err := m.ApplyRetention(context.Background())
	if err != nil || len(ret.Deleted) != 2 {
		t.Fatalf("ApplyRetention = %+v, %v; want the two older snapshots deleted", ret, err)
	}
	for _, set := range []string{"uploads", "wiki-db"} {
		if left, _ := repo.FileSnapshots(context.Background(), set); len(left) != 1 {
			t.Errorf("%s: %d snapshots left; want 1", set, len(left))
		}
	}
}

func TestFileSetValidate(t *testing.T) {
	for _, s := range []FileSet{{Name: "Bad Name", Dir: "/x"}, {Name: "x"}, {Name: "x", Dir: "/a", SQLite: "/b"}, {Name: "x", Dir: "rel"}} {
		if err := s.validate(); err == nil {
			t.Errorf("validate(%+v) = nil; want an error", s)
		}
	}
}
