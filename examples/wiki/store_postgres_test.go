package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/pgtest"
)

// The wiki on PostgreSQL, tested against real servers (internal/pgtest
// skips these tests, saying why, when PostgreSQL is not installed).

// wikiPassword is the password of the role the wiki logs in as.
const wikiPassword = "wiki-secret"

// testPostgres is one server and the databases made on it.
type testPostgres struct {
	srv *pgtest.Server
	n   atomic.Int32
}

func startTestPostgres(t *testing.T) *testPostgres {
	t.Helper()
	return &testPostgres{srv: pgtest.Start(t, pgtest.Config{})}
}

// newDatabase makes a role and a database it owns, as tandem makes them
// for an app, and returns the database's name; the role is named alike.
func (p *testPostgres) newDatabase(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("wiki_%d", p.n.Add(1))
	conn, err := pgx.Connect(t.Context(), p.srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", name, wikiPassword),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, name),
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return name
}

// url is the wiki's DATABASE_URL for database db at hostport.
func wikiURL(hostport, db string) string {
	return pgha.DatabaseURL(hostport, db, wikiPassword, db)
}

// open opens and migrates a store on database db; closed when the test
// ends.
func openTestPostgres(t *testing.T, dbURL string) *Store {
	t.Helper()
	s, err := OpenPostgres(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStorePostgres(t *testing.T) {
	t.Parallel()
	pg := startTestPostgres(t)
	dbs := make(map[*testing.T]string) // each test's database
	storeContract(t, func(t *testing.T) *Store {
		if dbs[t] == "" {
			dbs[t] = pg.newDatabase(t)
		}
		return openTestPostgres(t, wikiURL(pg.srv.Addr, dbs[t]))
	})
}

// TestHandlersOnPostgres runs the handler tests again with every wiki
// instance on PostgreSQL: instances given the same directory share a
// database, as they share the SQLite file otherwise.
func TestHandlersOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the handler tests ran on SQLite; TestStorePostgres covers the PostgreSQL store")
	}
	pg := startTestPostgres(t)
	dbs := make(map[string]string) // directory -> database
	sqlite := openTestStore
	openTestStore = func(t *testing.T, dir string) *Store {
		if dbs[dir] == "" {
			dbs[dir] = pg.newDatabase(t)
		}
		return openTestPostgres(t, wikiURL(pg.srv.Addr, dbs[dir]))
	}
	defer func() { openTestStore = sqlite }()
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"CreateEditViewHistory", TestCreateEditViewHistory},
		{"UnicodeTitle", TestUnicodeTitle},
		{"EditConflict", TestEditConflict},
		{"EditRequiresLogin", TestEditRequiresLogin},
		{"CSRFRejected", TestCSRFRejected},
		{"SessionSharedAcrossInstances", TestSessionSharedAcrossInstances},
		{"UploadDownload", TestUploadDownload},
		{"CacheHeaders", TestCacheHeaders},
		{"ETagNotModified", TestETagNotModified},
		{"PurgeOnEdit", TestPurgeOnEdit},
		{"Healthz", TestHealthz},
		{"HostileInput", TestHostileInput},
		{"NULInText", TestNULInText},
	} {
		t.Run(tc.name, tc.test)
	}
}

// TestMigrateProcessesPostgres runs `wiki migrate` in several processes at
// once against one new PostgreSQL database, as a release phase started
// on several nodes would.
func TestMigrateProcessesPostgres(t *testing.T) {
	t.Parallel()
	pg := startTestPostgres(t)
	db := pg.newDatabase(t)
	dbURL := wikiURL(pg.srv.Addr, db)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMigrateProcesses$")
			cmd.Env = append(os.Environ(), "WIKI_TEST_RUN=migrate", "DATABASE_URL="+dbURL)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("migrate process %d: %v\n%s", i, err, out)
			}
		})
	}
	wg.Wait()
	s := openTestPostgres(t, dbURL)
	ms, _ := migrations(postgresDialect)
	var count int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM schema_version").Scan(&count); err != nil || count != len(ms) {
		t.Errorf("schema_version rows = %d, %v; want %d", count, err, len(ms))
	}
}

// TestPostgresThroughFailover runs the wiki's store through tandem's
// database endpoint while the primary goes away and comes back: reads and
// writes wait and retry instead of failing, and each write is done once.
func TestPostgresThroughFailover(t *testing.T) {
	t.Parallel()
	pg := startTestPostgres(t)
	db := pg.newDatabase(t)
	ep := runTestEndpoint(t)
	ep.SetTarget(pg.srv.Addr)
	s := openTestPostgres(t, wikiURL(ep.Addr().String(), db))
	ctx := t.Context()
	first, err := s.SavePage(ctx, Edit{Title: "P", Body: "before", Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.CreateSession(ctx, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// The primary goes away: the pooled connections are closed, and new
	// ones are refused with 57P03 until it is back.
	ep.SetTarget("")
	type result struct {
		rev Revision
		err error
	}
	saved := make(chan result, 1)
	go func() {
		r, err := s.SavePage(ctx, Edit{Title: "P", Body: "during", Author: "alice", BaseRev: first.ID})
		saved <- result{r, err}
	}()
	read := make(chan error, 1)
	go func() {
		_, err := s.Session(ctx, alice.Token)
		read <- err
	}()
	waitFor(t, "the store to retry after being refused", func() bool { return ep.Stats().RefusedNoTarget >= 4 })
	ep.SetTarget(pg.srv.Addr)

	r := <-saved
	if r.err != nil {
		t.Fatalf("SavePage through the failover: %v; want it retried until the primary is back", r.err)
	}
	if err := <-read; err != nil {
		t.Errorf("Session through the failover: %v", err)
	}
	hist, err := s.History(ctx, "P", 10)
	if err != nil || len(hist) != 2 || hist[0].ID != r.rev.ID {
		t.Errorf("History = %+v, %v; want the two revisions, the second saved once", hist, err)
	}
}

// runTestEndpoint runs a database endpoint that refuses at once while it
// has no target.
func runTestEndpoint(t *testing.T) *pgha.Endpoint {
	t.Helper()
	ep, err := pgha.NewEndpoint(pgha.EndpointOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ep.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("endpoint Run: %v", err)
		}
	})
	return ep
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPgRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P03"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "25006"}, true},
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("save page: %w", &pgconn.PgError{Code: "57P03"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "28P01"}, false},
		{&pgconn.PgError{Code: "42P01"}, false},
		{errors.New("unexpected EOF"), false},
		{fmt.Errorf("read: %w", context.Canceled), false},
		{context.DeadlineExceeded, false},
		{ErrEditConflict, false},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{driver.ErrBadConn, true},
		{fmt.Errorf("save page: %w", pgconn.ErrConnClosed), true},
	} {
		if got := pgRetryable(tc.err); got != tc.want {
			t.Errorf("pgRetryable(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}
