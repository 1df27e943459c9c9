package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tandem-run/tandem/bench/host"
)

// The load is the anchor's: one row every writeInterval, each INSERT
// given at most opTimeout, a broken connection replaced at the next tick.
const (
	writeInterval = 10 * time.Millisecond
	opTimeout     = 2 * time.Second
)

// createTable is the table the writer fills. srv is filled in by the
// server that commits the row (its address as PostgreSQL sees it), so an
// acknowledgement says which primary took the write.
const createTable = `CREATE TABLE IF NOT EXISTS probe (
	run text, id bigint,
	srv text NOT NULL DEFAULT host(inet_server_addr()) || ':' || inet_server_port(),
	ts timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (run, id))`

const insertRow = `INSERT INTO probe (run, id) VALUES ($1, $2) RETURNING srv`

// connectFunc opens a connection to the primary the way the system's
// apps do: through tandem's DB endpoint, or by trying Patroni's nodes in
// turn for one that is not in recovery.
type connectFunc func(ctx context.Context) (*pgx.Conn, error)

// ack is one acknowledged write.
type ack struct {
	ID   int64
	Srv  string    // the server that committed it
	Sent time.Time // when the INSERT was sent
	At   time.Time // when its acknowledgement arrived
}

// writeError is a failed write or connection attempt, kept while it
// differs from the one before, for the report of a failed trial.
type writeError struct {
	At  time.Time
	ID  int64
	Err string
}

// writer inserts one row every writeInterval until stopped. Its
// goroutine is owned by the writer: stop cancels and waits for it.
type writer struct {
	run     string
	connect connectFunc
	cancel  context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex // guards the fields below
	acks   []ack
	errs   []writeError
	nerrs  int
	lastID int64
}

// startWriter starts writing rows of run.
func startWriter(ctx context.Context, run string, connect connectFunc) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{run: run, connect: connect, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.loop(ctx)
	}()
	return w
}

func (w *writer) loop(ctx context.Context) {
	connect := func(ctx context.Context) (*pgx.Conn, error) {
		c, err := w.connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		return c, nil
	}
	host.WriteLoop(ctx, writeInterval, connect, w.write, func(id int64, err error) { w.failed(ctx, id, err) })
}

// write inserts row id and records its acknowledgement.
func (w *writer) write(ctx context.Context, conn *pgx.Conn, id int64) error {
	w.tried(id)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	sent := time.Now()
	var srv string
	if err := conn.QueryRow(octx, insertRow, w.run, id).Scan(&srv); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	at := time.Now()
	w.mu.Lock()
	w.acks = append(w.acks, ack{ID: id, Srv: srv, Sent: sent, At: at})
	w.mu.Unlock()
	return nil
}

// tried records id as the last id tried.
func (w *writer) tried(id int64) {
	w.mu.Lock()
	w.lastID = id
	w.mu.Unlock()
}

func (w *writer) failed(ctx context.Context, id int64, err error) {
	w.tried(id)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // stopping
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nerrs++
	msg := err.Error()
	if n := len(w.errs); n == 0 || w.errs[n-1].Err != msg {
		w.errs = append(w.errs, writeError{At: time.Now(), ID: id, Err: msg})
	}
}

// firstAckAfter is the first write sent after t that a server other than
// notSrv acknowledged.
func (w *writer) firstAckAfter(t time.Time, notSrv string) (ack, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acks {
		if a.Sent.After(t) && a.Srv != notSrv {
			return a, true
		}
	}
	return ack{}, false
}

// waitAckAfter waits until firstAckAfter has an answer, at most timeout.
func (w *writer) waitAckAfter(ctx context.Context, t time.Time, notSrv string, timeout time.Duration) (ack, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if a, ok := w.firstAckAfter(t, notSrv); ok {
			return a, nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return ack{}, fmt.Errorf("no write acknowledged by another server than %s within %s: %w", notSrv, timeout, err)
		}
	}
}

// lastSrv is the server of the latest acknowledged write; "" if none.
func (w *writer) lastSrv() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acks) == 0 {
		return ""
	}
	return w.acks[len(w.acks)-1].Srv
}

// stop stops the writer and returns what it wrote: the acknowledged
// writes, the distinct errors in a row, how many attempts failed and the
// last id tried.
func (w *writer) stop() ([]ack, []writeError, int, int64) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks, w.errs, w.nerrs, w.lastID
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
