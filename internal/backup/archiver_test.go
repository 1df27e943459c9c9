package backup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPutWALIdempotentAndConflict: a retried push of the same file is
// success; a different file under the same name (two primaries on one
// timeline) is a loud ErrWALConflict and leaves the archived file alone.
func TestPutWALIdempotentAndConflict(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, EncryptionKeySize)} {
		store, _ := NewLocalStore(t.TempDir())
		repo, err := NewRepository(store, key)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		name, _ := ParseWALName("000000010000000000000003")
		seg := randomBytes(1 << 20)
		if _, err := repo.PutWAL(ctx, name, seg); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.PutWAL(ctx, name, seg); err != nil {
			t.Errorf("PutWAL of the same file again = %v; want success", err)
		}
		other := randomBytes(1 << 20)
		_, err = repo.PutWAL(ctx, name, other)
		if !errors.Is(err, ErrWALConflict) {
			t.Fatalf("PutWAL of a different file under the same name = %v; want ErrWALConflict", err)
		}
		t.Logf("conflict: %v", err)
		if got, err := repo.GetWAL(ctx, name); err != nil || string(got) != string(seg) {
			t.Errorf("archived file after a conflict changed (%v)", err)
		}
	}
}

func TestNewRepositoryKeySize(t *testing.T) {
	store, _ := NewLocalStore(t.TempDir())
	if _, err := NewRepository(store, make([]byte, 16)); err == nil {
		t.Errorf("NewRepository with a 16-byte key = nil error; want one")
	}
}

// TestWALSocket: the commands PostgreSQL runs push and fetch through the
// socket, with the exit codes PostgreSQL needs; a push that conflicts
// fails; other local users are turned away.
func TestWALSocket(t *testing.T) {
	t.Parallel()
	pg := needPostgres(t)
	dir := testDir(t)
	store, _ := NewLocalStore(filepath.Join(dir, "store"))
	repo, _ := NewRepository(store, nil)
	sockDir := filepath.Join(dir, "sock")
	if err := pg.mkdir(sockDir); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(sockDir, "wal.sock")
	a := runArchiver(t, repo, socket, "")
	run := func(uid int, args ...string) (int, string) {
		cmd := exec.Command(walCommand()[0], append(walCommand()[1:], args...)...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(pg.GID)}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	wal := filepath.Join(dir, "pg_wal")
	os.Mkdir(wal, 0o777)
	os.Chmod(wal, 0o777)
	seg := randomBytes(64 << 10)
	os.WriteFile(filepath.Join(wal, "000000010000000000000001"), seg, 0o644)
	os.WriteFile(filepath.Join(wal, "other"), randomBytes(64<<10), 0o644)

	if code, out := run(pg.UID, "db", "wal-push", "pg_wal/000000010000000000000001", "000000010000000000000001", "--socket", socket); code != 0 {
		t.Fatalf("wal-push = exit %d: %s", code, out)
	}
	if code, out := run(pg.UID, "db", "wal-push", "pg_wal/000000010000000000000001", "000000010000000000000001", "--socket", socket); code != 0 {
		t.Errorf("wal-push again (a retry) = exit %d: %s", code, out)
	}
	if code, out := run(pg.UID, "db", "wal-push", "pg_wal/other", "000000010000000000000001", "--socket", socket); code != 1 || !strings.Contains(out, "different file") {
		t.Errorf("wal-push of a different file under the same name = exit %d: %s; want 1 and the conflict", code, out)
	}
	if code, out := run(pg.UID, "db", "wal-push", "pg_wal/other", "../../etc/passwd", "--socket", socket); code != 1 || !strings.Contains(out, "not a WAL file name") {
		t.Errorf("wal-push under a bad name = exit %d: %s; want 1, bad name", code, out)
	}
	if code, out := run(pg.UID, "db", "wal-fetch", "000000010000000000000001", "pg_wal/RECOVERYXLOG", "--socket", socket); code != 0 {
		t.Errorf("wal-fetch = exit %d: %s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(wal, "RECOVERYXLOG")); string(got) != string(seg) {
		t.Errorf("wal-fetch wrote %d bytes; want the %d pushed", len(got), len(seg))
	}
	if code, _ := run(pg.UID, "db", "wal-fetch", "000000010000000000000002", "pg_wal/RECOVERYXLOG", "--socket", socket); code != 1 {
		t.Errorf("wal-fetch of a file not archived = exit %d; want 1 (PostgreSQL: end of archive)", code)
	}
	flipByte(t, store.path("wal/000000010000000000000001"))
	if code, out := run(pg.UID, "db", "wal-fetch", "000000010000000000000001", "pg_wal/RECOVERYXLOG", "--socket", socket); code != 126 || !strings.Contains(out, "corrupt") {
		t.Errorf("wal-fetch of a damaged object = exit %d: %s; want 126 (PostgreSQL: abort recovery) naming the damage", code, out)
	}
	os.Chmod(sockDir, 0o755) // let another user reach the socket file itself
	os.Chmod(socket, 0o777)
	if code, out := run(65534, "db", "wal-fetch", "000000010000000000000001", "/tmp/x", "--socket", socket); code == 0 {
		t.Errorf("wal-fetch as nobody = exit 0; want refused: %s", out)
	}
	if st := a.Status(); st.Archived != 2 || st.Conflicts != 1 || st.Failures != 1 {
		t.Errorf("archiver status = %+v; want 2 archived, 1 failure: the conflict", st)
	}
}

func TestCommands(t *testing.T) {
	got := ArchiveCommand([]string{"/usr/bin/tandem"}, "/run/tandem/it's.sock")
	if want := `'/usr/bin/tandem' db wal-push %p %f --socket '/run/tandem/it'\''s.sock'`; got != want {
		t.Errorf("ArchiveCommand = %s; want %s", got, want)
	}
	got = RestoreCommand([]string{"/usr/bin/tandem"}, "/run/tandem/wal.sock")
	if want := `'/usr/bin/tandem' db wal-fetch %f %p --socket '/run/tandem/wal.sock'`; got != want {
		t.Errorf("RestoreCommand = %s; want %s", got, want)
	}
}

func TestWALHandlerRejectsBadNames(t *testing.T) {
	store, _ := NewLocalStore(t.TempDir())
	repo, _ := NewRepository(store, nil)
	a, _ := NewArchiver(ArchiverOptions{Repository: repo, Socket: "unused"})
	h := walHandler(a)
	for _, path := range []string{"/wal/..%2F..%2Fetc%2Fpasswd", "/wal/x", "/wal/000000010000000000000001.gz"} {
		for _, method := range []string{http.MethodPut, http.MethodGet} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("data")))
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %s = %d; want 400", method, path, rec.Code)
			}
		}
	}
	if n := a.Status().Failures; n != 3 {
		t.Errorf("failures = %d; want the 3 refused pushes", n)
	}
}
