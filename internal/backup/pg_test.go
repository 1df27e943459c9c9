package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tests run real PostgreSQL (as the postgres user) with
// archive_command and restore_command calling this test binary, which
// plays tandem's `db wal-push` / `db wal-fetch` when walClientEnv is set.

const walClientEnv = "TANDEM_BACKUP_TEST_WALCLIENT"

func TestMain(m *testing.M) {
	if os.Getenv(walClientEnv) == "1" {
		os.Exit(walClientMain(os.Args[1:]))
	}
	code := m.Run()
	if testEnv.base != "" {
		os.RemoveAll(testEnv.base)
	}
	os.Exit(code)
}

// walClientMain is what `tandem db wal-push|wal-fetch` does.
func walClientMain(args []string) int {
	if len(args) != 6 || args[0] != "db" || args[4] != "--socket" {
		fmt.Fprintf(os.Stderr, "usage: db wal-push PATH NAME --socket S | db wal-fetch NAME PATH --socket S (got %q)\n", args)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch args[1] {
	case "wal-push":
		if err := PushWAL(ctx, args[5], args[2], args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "tandem:", err)
			return 1
		}
		return 0
	case "wal-fetch":
		err := FetchWAL(ctx, args[5], args[2], args[3])
		if err != nil && !errors.Is(err, ErrNotFound) {
			fmt.Fprintln(os.Stderr, "tandem:", err)
		}
		return FetchExitCode(err)
	}
	return 2
}

var testEnv struct {
	once     sync.Once
	err      error
	base     string // 0755, holds everything the postgres user must reach
	exe      string // a copy of this test binary the postgres user can run
	pg       Postgres
	template string // an initdb'd data directory, copied per cluster
	n        int
	mu       sync.Mutex
}

// needPostgres sets up the shared pieces once per test binary.
func needPostgres(t testing.TB) Postgres {
	t.Helper()
	testEnv.once.Do(func() { testEnv.err = setupTestEnv() })
	if testEnv.err != nil {
		t.Fatalf("PostgreSQL test environment: %v (scripts/test installs postgresql-15)", testEnv.err)
	}
	return testEnv.pg
}

func setupTestEnv() error {
	pg, err := FindPostgres()
	if err != nil {
		return err
	}
	testEnv.pg = pg
	if testEnv.base, err = os.MkdirTemp("", "tbk-"); err != nil {
		return err
	}
	if err := os.Chmod(testEnv.base, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	testEnv.exe = filepath.Join(testEnv.base, "tandem")
	if err := copyFile(self, testEnv.exe, 0o755); err != nil {
		return err
	}
	testEnv.template = filepath.Join(testEnv.base, "template")
	if err := pg.mkdir(testEnv.template); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 1 MiB segments: the tests switch and archive many segments quickly,
	// and the code is exercised off the 16 MiB default.
	_, err = pg.run(ctx, "initdb", "-D", testEnv.template, "-U", "postgres", "--auth=trust", "--no-sync",
		"--encoding=UTF8", "--locale=C", "--wal-segsize=1")
	return err
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// testDir makes a directory under the shared base for one test, removed
// when it ends.
func testDir(t testing.TB) string {
	testEnv.mu.Lock()
	testEnv.n++
	d := filepath.Join(testEnv.base, fmt.Sprintf("t%d", testEnv.n))
	testEnv.mu.Unlock()
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// walCommand is the executable part of archive_command/restore_command.
func walCommand() []string { return []string{"/usr/bin/env", walClientEnv + "=1", testEnv.exe} }

// cluster is a PostgreSQL server a test runs.
type cluster struct {
	t   testing.TB
	pg  Postgres
	srv *server
}

// newPrimary copies the template into dir/name, appends settings to its
// postgresql.auto.conf and starts it.
func newPrimary(t testing.TB, dir, name string, settings ...string) *cluster {
	t.Helper()
	pg := needPostgres(t)
	data := filepath.Join(dir, name)
	if out, err := exec.Command("cp", "-a", testEnv.template, data).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v: %s", err, out)
	}
	return startCluster(t, pg, dir, name, settings...)
}

// startCluster starts a server on the data directory dir/name, with a
// socket directory dir/name.sock.
func startCluster(t testing.TB, pg Postgres, dir, name string, settings ...string) *cluster {
	t.Helper()
	data := filepath.Join(dir, name)
	sock := data + ".sock"
	if _, err := os.Stat(sock); err != nil {
		if err := pg.mkdir(sock); err != nil {
			t.Fatal(err)
		}
	}
	appendConf(t, pg, data, settings...)
	c := &cluster{t: t, pg: pg, srv: newServer(pg, data, sock)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.srv.start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop() })
	// What the database driver must do after a start: PostgreSQL 15's
	// checkpointer, started while the startup process runs, sleeps a whole
	// checkpoint_timeout before it first honours archive_timeout; a
	// configuration reload wakes it (see docs/backups.md).
	if c.queryString("SELECT pg_is_in_recovery()::text") == "false" {
		c.exec("SELECT pg_reload_conf()")
	}
	return c
}

func appendConf(t testing.TB, pg Postgres, data string, settings ...string) {
	t.Helper()
	if len(settings) == 0 {
		return
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, strings.Join(settings, "\n"))
}

// archiving returns the settings that archive through the socket.
func archiving(socket string) []string {
	return []string{"wal_level = replica", "archive_mode = on",
		"archive_command = " + pgQuote(ArchiveCommand(walCommand(), socket)),
		"max_wal_senders = 5", "fsync = off"}
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.srv.stop(ctx); err != nil {
		c.t.Errorf("stop %s: %v", c.srv.dir, err)
	}
}

// crash stops the server without a checkpoint or a last archive.
func (c *cluster) crash() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.pg.run(ctx, "pg_ctl", "stop", "-D", c.srv.dir, "-m", "immediate", "-w", "-t", "60"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) connString() string { return c.srv.connString("postgres", "postgres") }

func (c *cluster) conn() *pgx.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.srv.connect(ctx, "postgres")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (c *cluster) exec(sql string, args ...any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := c.conn()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	conn.Close(ctx)
}

func (c *cluster) queryString(sql string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := c.conn()
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// insert commits one row and returns the server's clock just after.
func (c *cluster) insert(note string) time.Time {
	c.t.Helper()
	c.exec("INSERT INTO notes(note) VALUES ($1)", note)
	ts, err := time.Parse(time.RFC3339Nano, c.queryString(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`))
	if err != nil {
		c.t.Fatal(err)
	}
	return ts
}

// notes returns the notes table's rows in order.
func (c *cluster) notes() string {
	return c.queryString("SELECT coalesce(string_agg(note, ',' ORDER BY id), '') FROM notes")
}

// switchWAL ends the current segment and waits until the archive holds it.
func (c *cluster) switchWAL(repo *Repository) string {
	c.t.Helper()
	seg := c.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())")
	c.exec("SELECT pg_switch_wal()")
	waitFor(c.t, time.Minute, "segment "+seg+" archived", func() bool {
		_, err := repo.Store().Stat(context.Background(), walKey(seg))
		return err == nil
	})
	return seg
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runArchiver serves an archiver on socket for the rest of the test.
func runArchiver(t testing.TB, repo *Repository, socket string, dataDir string) *Archiver {
	t.Helper()
	a, err := NewArchiver(ArchiverOptions{Repository: repo, Socket: socket, AllowUIDs: []int{testEnv.pg.UID},
		DataDir: func() string { return dataDir }, CheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("archiver: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "archiver socket", func() bool { _, err := os.Stat(socket); return err == nil })
	return a
}

// openCopy starts a server on a restored directory to look at it.
func openCopy(t testing.TB, dir string) *cluster {
	t.Helper()
	pg := needPostgres(t)
	sock := dir + ".sock"
	if err := pg.mkdir(sock); err != nil {
		t.Fatal(err)
	}
	if err := writeTrustHBA(pg, sock); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, pg: pg, srv: newServer(pg, dir, sock)}
	c.srv.hbaFile = filepath.Join(sock, hbaName)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.srv.start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// archivingPrimary starts, in dir, a primary "p" archiving into repo
// through its own archiver (socket dir/p.sock/wal.sock), with an empty
// notes table.
func archivingPrimary(t testing.TB, repo *Repository, dir string) (*cluster, *Archiver) {
	t.Helper()
	sock := filepath.Join(dir, "p.sock")
	if err := needPostgres(t).mkdir(sock); err != nil {
		t.Fatal(err)
	}
	a := runArchiver(t, repo, filepath.Join(sock, "wal.sock"), filepath.Join(dir, "p"))
	p := newPrimary(t, dir, "p", archiving(filepath.Join(sock, "wal.sock"))...)
	p.exec("CREATE TABLE notes(id serial PRIMARY KEY, note text)")
	return p, a
}
