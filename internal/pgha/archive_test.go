package pgha

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// segmentRE is the name of a WAL segment file.
var segmentRE = regexp.MustCompile(`^[0-9A-F]{24}$`)

// archiveDir makes a directory the postgres user archives into with cp.
func archiveDir(t *testing.T, inst Install, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, int(inst.UID), int(inst.GID)); err != nil {
		t.Fatal(err)
	}
	return d
}

// segments lists the WAL segments in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if segmentRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// superConn connects to member n's PostgreSQL as the superuser over its
// Unix socket (the test runs as root, which tandem's ident map lets in).
func (tc *testCluster) superConn(ctx context.Context, n string) (*pgx.Conn, error) {
	tm := tc.members[n]
	return pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable", layout{root: tm.dir}.run(), tm.port, superuser))
}

// TestArchiveTimeoutAfterRestart: with archive_timeout set, a commit on
// an otherwise idle primary reaches the archive within the timeout, also
// after postgres crashed and the member restarted it in place. PostgreSQL
// 15's checkpointer, which forces the switches, takes the end-of-recovery
// checkpoint while recovery is still in progress and then sleeps a whole
// checkpoint_timeout (5 min) without looking at archive_timeout; the
// member's reload after each start is what wakes it. (A promotion asks
// for a checkpoint after recovery, which wakes it too.)
func TestArchiveTimeoutAfterRestart(t *testing.T) {
	skipShort(t)
	t.Parallel()
	inst := needPostgres(t)
	arch := archiveDir(t, inst, testDir(t), "archive")
	const timeout = 2 * time.Second
	tc := newTestCluster(t, clusterSpec{names: []string{"a"}, seed: "a", asynchronous: true,
		archive: Archive{Mode: "on", Command: "cp %p " + arch + "/%f", Timeout: timeout}})
	tc.waitHealthy("a", 60*time.Second)
	srv := tc.members["a"].m.srv
	pid := srv.pid()
	killProcesses(pid, childrenOf(pid))
	waitFor(t, 30*time.Second, "postgres started again in place", func() bool {
		p := srv.pid()
		return p != 0 && p != pid && tc.status("a").Role == "primary"
	})

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conn, err := tc.appConn(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout) // what the start wrote is archived by now
	before := segments(t, arch)
	committed := time.Now()
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*timeout, "a segment archived after the commit", func() bool {
		return len(segments(t, arch)) > len(before)
	})
	t.Logf("the commit's segment archived %s after it (archive_timeout %s)", time.Since(committed).Round(10*time.Millisecond), timeout)
}

// TestBootstrapFromBackup: a new cluster's member restores a base backup
// of another cluster and replays its archived WAL to a point in time,
// with the recovery run to its end before the member leads (the machine
// would promote a standby holding the lease at once), then leads on a new
// timeline that it archives, with the recovery targets gone from the
// directory.
func TestBootstrapFromBackup(t *testing.T) {
	skipShort(t)
	t.Parallel()
	inst := needPostgres(t)
	dir := testDir(t)
	archX := archiveDir(t, inst, dir, "archive-x")
	x := newTestCluster(t, clusterSpec{names: []string{"a"}, seed: "a", asynchronous: true,
		archive: Archive{Mode: "on", Command: "cp %p " + archX + "/%f", Timeout: time.Second}})
	x.waitHealthy("a", 60*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := x.appConn(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	insert := func(v int) {
		t.Helper()
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int)"); err != nil {
		t.Fatal(err)
	}
	insert(1)
	base := archiveDir(t, inst, dir, "base") // empty, the postgres user's
	m := x.members["a"].m
	if out, err := m.srv.program(ctx, "pg_basebackup", "-D", base, "-X", "none", "-c", "fast",
		"-d", m.opts.conninfo(m.l, x.addr("a"), replicationUser, "", "test-backup")); err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	insert(2)
	time.Sleep(300 * time.Millisecond)
	target := time.Now()
	time.Sleep(300 * time.Millisecond)
	insert(3)
	super, err := x.superConn(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	if err := super.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&last); err != nil {
		t.Fatal(err)
	}
	super.Close(ctx)
	waitFor(t, 30*time.Second, "segment "+last+" archived", func() bool { return slices.Contains(segments(t, archX), last) })
	x.stopAll()

	archY := archiveDir(t, inst, dir, "archive-y")
	restored := false
	y := newTestCluster(t, clusterSpec{names: []string{"b"}, asynchronous: true,
		archive: Archive{Mode: "on", Command: "cp %p " + archY + "/%f", Timeout: time.Second, RestoreCommand: "cp " + archX + "/%f %p"},
		bootstrap: func(ctx context.Context, data string) error {
			restored = true
			return restoreForTest(ctx, inst, base, data, target)
		}})
	y.waitHealthy("b", 90*time.Second)
	if !restored {
		t.Fatal("the member never called Bootstrap")
	}
	yc, err := y.appConn(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer yc.Close(ctx)
	rows, err := yc.Query(ctx, "SELECT v FROM t ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("restored rows = %v, %v; want [1 2]: those committed before the target, none after", got, err)
	}
	if st := y.status("b"); len(st.Members) != 1 || st.Members[0].Timeline != 2 {
		t.Errorf("status %+v; want b on timeline 2, promoted at the target", st)
	}
	auto, _ := os.ReadFile(layout{root: y.members["b"].dir}.autoConf())
	if strings.Contains(string(auto), "recovery_target") {
		t.Errorf("postgresql.auto.conf still holds recovery targets:\n%s", auto)
	}
	waitFor(t, 30*time.Second, "the new timeline's history archived", func() bool {
		_, err := os.Stat(filepath.Join(archY, "00000002.history"))
		return err == nil
	})
}

// restoreForTest is what a Bootstrap restoring a backup does: the base
// backup copied into dir, with recovery asked for up to target. Its own
// restore_command is one the member must replace with Archive's.
func restoreForTest(ctx context.Context, inst Install, base, dir string, target time.Time) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", base, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the base backup: %w: %s", err, out)
	}
	auto := filepath.Join(dir, "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "restore_command = 'false'\nrecovery_target_time = '%s'\nrecovery_target_action = 'promote'\n",
		target.UTC().Format("2006-01-02 15:04:05.999999-07"))
	if err := f.Close(); err != nil {
		return err
	}
	signal := filepath.Join(dir, "recovery.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return err
	}
	return os.Chown(signal, int(inst.UID), int(inst.GID))
}
