package pgha

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/tandem-run/tandem/internal/pgtest"
)

// runEndpoint starts an endpoint on a free loopback port; it is stopped,
// and Run's result checked, when the test ends.
func runEndpoint(t testing.TB, opts EndpointOptions) *Endpoint {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := NewEndpoint(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v; want nil after the context ended", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	return e
}

// endpointURL is the DATABASE_URL of the test servers' superuser through e.
func endpointURL(e *Endpoint) string {
	return DatabaseURL(e.Addr().String(), "postgres", pgtest.Password, "postgres")
}

// connect opens a pgx connection to url that cancels queries with a
// cancel request when their context ends (pgx's default closes the
// connection instead).
func connect(t testing.TB, ctx context.Context, url string) (*pgx.Conn, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnectTimeout = 10 * time.Second
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

func mustConnect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := connect(t, t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return conn
}

// serverPort asks the server behind conn which port it listens on.
func serverPort(t testing.TB, conn *pgx.Conn) int {
	t.Helper()
	var port int
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('port')::int").Scan(&port); err != nil {
		t.Fatalf("ask the server its port: %v", err)
	}
	return port
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestEndpointSwitchesBetweenServers runs queries through the endpoint,
// takes the target away, and gives it another server: what a failover
// looks like to an app.
func TestEndpointSwitchesBetweenServers(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	b := pgtest.Start(t, pgtest.Config{})
	e := runEndpoint(t, EndpointOptions{})
	e.SetTarget(a.Addr)

	conn := mustConnect(t, endpointURL(e))
	if got := serverPort(t, conn); got != a.Port {
		t.Fatalf("through the endpoint: server port %d; want A's %d", got, a.Port)
	}
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := conn.Exec(ctx, "INSERT INTO kv VALUES ($1, $2)", strconv.Itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 50 {
		t.Fatalf("count = %d, %v; want 50", n, err)
	}
	if st := e.Stats(); st.Relayed != 1 || st.Relaying != 1 || st.BytesToServer == 0 || st.BytesToClient == 0 {
		t.Errorf("Stats() = %+v; want one connection relaying, bytes both ways", st)
	}

	// No primary: the open connection is closed at once, a new one is
	// refused with 57P03 quickly (Hold is 0).
	e.SetTarget("")
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection to the old target still works after SetTarget(\"\")")
	}
	start := time.Now()
	_, err := connect(t, ctx, endpointURL(e))
	if code := pgCode(err); code != "57P03" {
		t.Fatalf("connect with no target: %v (SQLSTATE %q); want SQLSTATE 57P03", err, code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %s; want it at once", d)
	}
	if st := e.Stats(); st.RefusedNoTarget != 1 || st.Severed != 1 {
		t.Errorf("Stats() = %+v; want 1 refused and 1 severed", st)
	}

	// The other server: new connections reach it.
	e.SetTarget(b.Addr)
	conn2 := mustConnect(t, endpointURL(e))
	if got := serverPort(t, conn2); got != b.Port {
		t.Fatalf("after SetTarget(B): server port %d; want B's %d", got, b.Port)
	}

	// Straight from one server to another: connections to the old one,
	// which still runs (a demoted primary), are closed at once.
	e.SetTarget(a.Addr)
	if _, err := conn2.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection to B still works after SetTarget(A)")
	}
	conn3 := mustConnect(t, endpointURL(e))
	if got := serverPort(t, conn3); got != a.Port {
		t.Errorf("after SetTarget(A): server port %d; want %d", got, a.Port)
	}
	if err := conn3.QueryRow(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 50 {
		t.Errorf("A's data after switching back: %d rows, %v; want 50", n, err)
	}
}

// TestEndpointHoldsUntilTarget shows a switchover as a pause: a new
// connection made while there is no target waits for one.
func TestEndpointHoldsUntilTarget(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	e := runEndpoint(t, EndpointOptions{Hold: time.Minute})
	type result struct {
		conn *pgx.Conn
		err  error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := connect(t, t.Context(), endpointURL(e))
		got <- result{conn, err}
	}()
	waitFor(t, 10*time.Second, "the connection to be held", func() bool { return e.Stats().Waiting == 1 })
	e.SetTarget(a.Addr)
	r := <-got
	if r.err != nil {
		t.Fatalf("held connection: %v; want it relayed once the target is set", r.err)
	}
	if port := serverPort(t, r.conn); port != a.Port {
		t.Errorf("held connection reached port %d; want %d", port, a.Port)
	}
	if st := e.Stats(); st.Waiting != 0 || st.RefusedNoTarget != 0 {
		t.Errorf("Stats() = %+v; want nobody waiting and nothing refused", st)
	}
}

// TestEndpointUnreachableTarget: a target that refuses connections (its
// node just died, the endpoint not yet told) is answered 57P03 too, and a
// held connection moves on to the next target.
func TestEndpointUnreachableTarget(t *testing.T) {
	t.Parallel()
	dead := deadAddr(t)
	e := runEndpoint(t, EndpointOptions{})
	e.SetTarget(dead)
	_, err := connect(t, t.Context(), endpointURL(e))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P03" {
		t.Fatalf("connect to an unreachable target: %v; want SQLSTATE 57P03", err)
	}
	if want := "could not reach the primary at " + dead; !strings.Contains(pe.Detail, want) {
		t.Errorf("detail %q; want it to say %q", pe.Detail, want)
	}

	a := pgtest.Start(t, pgtest.Config{})
	held := runEndpoint(t, EndpointOptions{Hold: time.Minute})
	held.SetTarget(dead)
	done := make(chan error, 1)
	go func() {
		_, err := connect(t, t.Context(), endpointURL(held))
		done <- err
	}()
	waitFor(t, 10*time.Second, "the connection to wait for a reachable target", func() bool { return held.Stats().Waiting == 1 })
	held.SetTarget(a.Addr)
	if err := <-done; err != nil {
		t.Errorf("held connection after the target moved: %v; want it relayed", err)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestEndpointCancelRequest cancels a running pg_sleep through the
// endpoint the way pgx does when a query's context ends.
func TestEndpointCancelRequest(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	e := runEndpoint(t, EndpointOptions{})
	e.SetTarget(a.Addr)
	conn := mustConnect(t, endpointURL(e))

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(60)")
	if err == nil {
		t.Fatal("pg_sleep(60) returned without error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled query took %s; want well under the 5s pgx waits before closing the connection", d)
	}
	if code := pgCode(err); code != "57014" {
		t.Errorf("cancelled query: %v (SQLSTATE %q); want 57014 query_canceled from the server", err, code)
	}
	// The server cancelled the query: the connection is still good.
	var one int
	if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1 after the cancel = %d, %v; want 1 on the same connection", one, err)
	}
	if st := e.Stats(); st.Cancels != 1 {
		t.Errorf("Stats().Cancels = %d; want 1", st.Cancels)
	}
}

// TestEndpointReadOnly: a read endpoint starts its sessions read-only.
func TestEndpointReadOnly(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	e := runEndpoint(t, EndpointOptions{ReadOnly: true})
	e.SetTarget(a.Addr)
	conn := mustConnect(t, endpointURL(e))
	var ro string
	if err := conn.QueryRow(t.Context(), "SHOW default_transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("default_transaction_read_only = %q, %v; want on", ro, err)
	}
	_, err := conn.Exec(t.Context(), "CREATE TABLE t (x int)")
	if code := pgCode(err); code != "25006" {
		t.Errorf("CREATE TABLE through the read endpoint: %v; want SQLSTATE 25006", err)
	}
	e.SetTarget("")
	_, err = connect(t, t.Context(), endpointURL(e))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P03" || !strings.Contains(pe.Detail, "no standby") {
		t.Errorf("read endpoint without target: %v; want 57P03 saying there is no standby", err)
	}
}

// TestEndpointShutdown: ending Run's context closes the listener and
// every connection, relayed or held.
func TestEndpointShutdown(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0", Hold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	e.SetTarget(a.Addr)
	conn := mustConnect(t, endpointURL(e))
	e.SetTarget("")
	held := make(chan error, 1)
	go func() {
		_, err := connect(t, t.Context(), endpointURL(e))
		held <- err
	}()
	waitFor(t, 10*time.Second, "a held connection", func() bool { return e.Stats().Waiting == 1 })
	e.SetTarget(a.Addr)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	conn2 := mustConnect(t, endpointURL(e))

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
	}
	for i, c := range []*pgx.Conn{conn, conn2} {
		if _, err := c.Exec(t.Context(), "SELECT 1"); err == nil {
			t.Errorf("connection %d still works after shutdown", i)
		}
	}
	if c, err := net.DialTimeout("tcp", e.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the endpoint still accepts connections after shutdown")
	}
	if st := e.Stats(); st.Open != 0 || st.Relaying != 0 || st.Waiting != 0 {
		t.Errorf("Stats() after shutdown = %+v; want nothing open", st)
	}
}

// TestEndpointMaxConns: a connection beyond the cap is refused with
// PostgreSQL's own "too many clients" error, but a cancel request beyond
// it still reaches the server.
func TestEndpointMaxConns(t *testing.T) {
	t.Parallel()
	a := pgtest.Start(t, pgtest.Config{})
	e := runEndpoint(t, EndpointOptions{MaxConns: 2})
	e.SetTarget(a.Addr)
	first := mustConnect(t, endpointURL(e))
	mustConnect(t, endpointURL(e))
	_, err := connect(t, t.Context(), endpointURL(e))
	if code := pgCode(err); code != "53300" {
		t.Errorf("third connection with MaxConns 2: %v; want SQLSTATE 53300", err)
	}
	if st := e.Stats(); st.RefusedFull != 1 || st.Open != 2 {
		t.Errorf("Stats() = %+v; want 1 refused as full, 2 open", st)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := first.Exec(ctx, "SELECT pg_sleep(60)"); pgCode(err) != "57014" {
		t.Errorf("pg_sleep cancelled while the endpoint is full: %v; want SQLSTATE 57014", err)
	}
	if st := e.Stats(); st.Cancels != 1 {
		t.Errorf("Stats().Cancels = %d; want 1", st.Cancels)
	}
}

func TestNewEndpointOptions(t *testing.T) {
	for _, o := range []EndpointOptions{{}, {Listen: "6432"}, {Listen: ":1", Hold: -1}, {Listen: ":1", MaxConns: -1}} {
		if _, err := NewEndpoint(o); err == nil {
			t.Errorf("NewEndpoint(%+v) = nil error; want one", o)
		}
	}
	e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Addr() != nil || e.Target() != "" {
		t.Errorf("new endpoint: Addr %v, Target %q; want nothing bound and no target", e.Addr(), e.Target())
	}
	if e.opts.MaxConns != DefaultEndpointMaxConns || e.opts.StartupTimeout != DefaultEndpointStartupTimeout ||
		e.opts.DialTimeout != DefaultEndpointDialTimeout || e.opts.AuthTimeout != DefaultEndpointAuthTimeout {
		t.Errorf("defaults not applied: %+v", e.opts)
	}
}

func TestDatabaseURL(t *testing.T) {
	got := DatabaseURL("127.0.0.1:6432", "wiki", "p@ss/word", "wiki")
	want := "postgres://wiki:p%40ss%2Fword@127.0.0.1:6432/wiki?sslmode=disable"
	if got != want {
		t.Errorf("DatabaseURL = %q; want %q", got, want)
	}
	cfg, err := pgconn.ParseConfig(got)
	if err != nil || cfg.User != "wiki" || cfg.Password != "p@ss/word" || cfg.Database != "wiki" || cfg.Port != 6432 || cfg.TLSConfig != nil {
		t.Errorf("pgconn.ParseConfig(%q) = %+v, %v; want wiki/p@ss/word@:6432/wiki without TLS", got, cfg, err)
	}
}
