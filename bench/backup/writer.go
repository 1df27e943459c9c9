package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tandem-run/tandem/bench/host"
)

// The probe commits one row every probeInterval; its acknowledgements are
// what the RPO is measured against.
const (
	probeInterval = 10 * time.Millisecond
	probeTimeout  = 2 * time.Second
	probeTable    = `CREATE TABLE probe (id bigint PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp())`
)

// ack is one acknowledged commit of the probe.
type ack struct {
	ID int64
	At time.Time // when the acknowledgement arrived
}

// probe inserts a row every probeInterval until stopped; a broken
// connection is replaced at the next tick. Its goroutine is owned by the
// probe: stop cancels and waits for it.
type probe struct {
	srv    *server
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // guards the fields below
	acks  []ack
	nerrs int
}

func startProbe(ctx context.Context, srv *server) *probe {
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.loop(ctx)
	}()
	return p
}

func (p *probe) loop(ctx context.Context) {
	host.WriteLoop(ctx, probeInterval, p.srv.connect, p.insert, func(int64, error) { p.failed() })
}

// insert commits row id and records its acknowledgement.
func (p *probe) insert(ctx context.Context, conn *pgx.Conn, id int64) error {
	octx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := conn.Exec(octx, "INSERT INTO probe (id) VALUES ($1)", id); err != nil {
		return err
	}
	p.mu.Lock()
	p.acks = append(p.acks, ack{ID: id, At: time.Now()})
	p.mu.Unlock()
	return nil
}

func (p *probe) failed() {
	p.mu.Lock()
	p.nerrs++
	p.mu.Unlock()
}

// counts returns how many commits were acknowledged and how many
// attempts failed so far.
func (p *probe) counts() (acked, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks), p.nerrs
}

// stop stops the probe and returns its acknowledged commits and how many
// attempts failed.
func (p *probe) stop() ([]ack, int) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acks, p.nerrs
}

// load is the write load of an RPO trial: pgbench and the probe.
type load struct {
	bench *proc
	probe *probe
}

// startLoad starts pgbench (a client: outside the server's box, it
// survives the crash) and the probe.
func startLoad(ctx context.Context, kind string, srv *server, dir string) (*load, error) {
	argv := []string{srv.env.path("pgbench"), "-n", "-c", "2", "-j", "2", "-T", "7200", "-h", srv.sock, "-U", "postgres"}
	if kind == "steady" {
		argv = append(argv, "-R", "100")
	}
	p, err := startProc(procSpec{name: "pgbench", log: filepath.Join(dir, "pgbench.log"), argv: append(argv, "postgres")})
	if err != nil {
		return nil, err
	}
	return &load{bench: p, probe: startProbe(ctx, srv)}, nil
}

// running reports a load generator that stopped early.
func (l *load) running() error {
	if l.bench.Exited() {
		return fmt.Errorf("pgbench exited during the load (%v): %s", l.bench.Err(), l.bench.logTail())
	}
	return nil
}

// stop stops both and returns the probe's acknowledgements.
func (l *load) stop() ([]ack, int) {
	l.bench.stop(syscall.SIGINT, 10*time.Second) //nolint:errcheck // after a crash it exits with an error anyway
	return l.probe.stop()
}
