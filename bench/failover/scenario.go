package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a running PostgreSQL cluster of two members, tandem's or
// Patroni's, as the scenarios drive it.
type cluster interface {
	// Connect opens a connection to the primary the way the system's
	// apps do.
	Connect(ctx context.Context) (*pgx.Conn, error)
	// Leader is the member running as primary now; "" while there is
	// none.
	Leader(ctx context.Context) (string, error)
	// Other is the member that is not m.
	Other(m string) string
	// Addr is member m's PostgreSQL as the server itself reports it
	// (inet_server_addr():inet_server_port()).
	Addr(m string) string
	// Crash kills member m's whole node at once and returns when it was
	// stopped.
	Crash(m string) (time.Time, error)
	// Restart starts member m's node again after a crash.
	Restart(ctx context.Context, m string) error
	// Switchover asks for a planned switchover from the primary to m and
	// returns once the system's command does.
	Switchover(ctx context.Context, from, to string) error
	// Standby reports whether m streams from the primary, and whether it
	// is its synchronous standby.
	Standby(ctx context.Context, m string) (streaming, sync bool, err error)
	// Stop stops every process of the cluster; failed keeps its files.
	Stop(failed bool) (kept string)
}

// etcdLeaderer is a cluster whose etcd runs on the database's nodes
// (tandem's): a crash of the primary's node may also take the etcd
// leader, and etcd then extends every lease when a new leader takes
// over, the leader lease included.
type etcdLeaderer interface {
	EtcdLeader(ctx context.Context) (string, error)
}

// Deadlines of the scenarios' waits.
const (
	readyTimeout    = 3 * time.Minute
	newLeaderWithin = 2 * time.Minute
	rejoinWithin    = 4 * time.Minute
	switchoverLimit = 2 * time.Minute
	verifyWithin    = time.Minute
)

// waitReady waits until the cluster has a primary and its synchronous
// standby streams, then creates the writer's table.
func waitReady(ctx context.Context, c cluster) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if last = readyOnce(ctx, c); last == nil {
			return nil
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("cluster not ready within %s: %w", readyTimeout, last)
		}
	}
}

func readyOnce(ctx context.Context, c cluster) error {
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no primary")
	}
	streaming, sync, err := c.Standby(ctx, c.Other(leader))
	if err != nil {
		return err
	}
	if !streaming || !sync {
		return fmt.Errorf("%s is not the streaming synchronous standby of %s", c.Other(leader), leader)
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("create the probe table: %w", err)
	}
	return nil
}

// runFailover kills the primary's node under the write load, waits for
// writes on the new primary, restarts the node and waits until it
// streams again as a synchronous standby. phase spreads the kill over
// the system's own period (Patroni's loop_wait).
func runFailover(ctx context.Context, c cluster, t *Trial, phase time.Duration) error {
	w, old, err := underLoad(ctx, c, t, phase)
	defer w.stop()
	if err != nil {
		return err
	}
	if err := noteEtcdLeader(ctx, c, t); err != nil {
		return err
	}
	killed, err := c.Crash(old)
	if err != nil {
		return err
	}
	first, err := w.waitAckAfter(ctx, killed, c.Addr(old), newLeaderWithin)
	if err != nil {
		return finish(ctx, c, t, w, killed, c.Addr(old), time.Now(), err)
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	restarted := time.Now()
	if err := c.Restart(ctx, old); err != nil {
		return finish(ctx, c, t, w, killed, c.Addr(old), first.At.Add(time.Second), err)
	}
	err = waitRejoin(ctx, c, t, old, restarted)
	return finish(ctx, c, t, w, killed, c.Addr(old), first.At.Add(time.Second), err)
}

// runSwitchover asks for a planned switchover under the write load and
// waits until the old primary streams again as the synchronous standby.
func runSwitchover(ctx context.Context, c cluster, t *Trial, phase time.Duration) error {
	w, old, err := underLoad(ctx, c, t, phase)
	defer w.stop()
	if err != nil {
		return err
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, switchoverLimit)
	err = c.Switchover(sctx, old, t.To)
	cancel()
	t.Command = time.Since(start).Seconds()
	if err != nil {
		return finish(ctx, c, t, w, start, c.Addr(old), time.Now(), err)
	}
	first, err := w.waitAckAfter(ctx, start, c.Addr(old), newLeaderWithin)
	if err != nil {
		return finish(ctx, c, t, w, start, c.Addr(old), time.Now(), err)
	}
	err = waitRejoin(ctx, c, t, old, start)
	return finish(ctx, c, t, w, start, c.Addr(old), first.At.Add(time.Second), err)
}

// underLoad starts the writer, lets it write for 3 s and a random part of
// phase, and returns it (to be stopped by the caller, also on error)
// with the primary it writes to, which becomes the trial's From.
func underLoad(ctx context.Context, c cluster, t *Trial, phase time.Duration) (*writer, string, error) {
	w := startWriter(ctx, runID(t), c.Connect)
	if err := sleep(ctx, 3*time.Second+randDur(phase)); err != nil {
		return w, "", err
	}
	old, err := leaderWriting(ctx, c, w)
	if err != nil {
		return w, "", err
	}
	t.From, t.To = old, c.Other(old)
	return w, old, nil
}

// noteEtcdLeader records whether the primary's node leads etcd too, for
// a cluster whose etcd runs on its nodes.
func noteEtcdLeader(ctx context.Context, c cluster, t *Trial) error {
	e, ok := c.(etcdLeaderer)
	if !ok {
		return nil
	}
	leader, err := e.EtcdLeader(ctx)
	if err != nil {
		return err
	}
	colocated := leader == t.From
	t.EtcdLeaderKilled = &colocated
	return nil
}

// leaderWriting is the primary, checked against the server that
// acknowledged the latest write.
func leaderWriting(ctx context.Context, c cluster, w *writer) (string, error) {
	old, err := c.Leader(ctx)
	if err != nil {
		return "", err
	}
	if old == "" {
		return "", errors.New("no primary before the event")
	}
	if srv := w.lastSrv(); srv != c.Addr(old) {
		return "", fmt.Errorf("the primary is %s (%s) but the last write was acknowledged by %q", old, c.Addr(old), srv)
	}
	return old, nil
}

// waitRejoin waits until m streams from the new primary, then until it
// is its synchronous standby, timing both from since.
func waitRejoin(ctx context.Context, c cluster, t *Trial, m string, since time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, rejoinWithin)
	defer cancel()
	for {
		streaming, sync, err := c.Standby(ctx, m)
		if err == nil && streaming && t.RejoinStreaming < 0 {
			t.RejoinStreaming = time.Since(since).Seconds()
		}
		if err == nil && streaming && sync {
			t.RejoinSync = time.Since(since).Seconds()
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("%s not the streaming synchronous standby within %s: %w", m, rejoinWithin, err)
		}
	}
}

// finish stops the writer, reads back the rows and fills in the trial's
// write figures. cause is the trial's error so far; it is returned, or
// the error of reading the rows back.
func finish(ctx context.Context, c cluster, t *Trial, w *writer, event time.Time, oldSrv string, windowEnd time.Time, cause error) error {
	if cause == nil {
		cause = sleep(ctx, time.Second) // writes after the event, on the settled cluster
	}
	acks, errs, nerrs, _ := w.stop()
	t.Failed = nerrs
	present, err := readRows(ctx, c, runID(t))
	if err != nil {
		return errors.Join(cause, err)
	}
	t.analyze(acks, present, event, oldSrv, windowEnd)
	if cause != nil || t.Lost > 0 || t.SplitAcks > 0 {
		t.Errors = errorsAround(errs, event, windowEnd)
	}
	return cause
}

// readRows reads back the rows of a trial from the primary: id → the
// server that committed it.
func readRows(ctx context.Context, c cluster, run string) (map[int64]string, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyWithin)
	defer cancel()
	var last error
	for {
		rows, err := readRowsOnce(ctx, c, run)
		if err == nil {
			return rows, nil
		}
		last = err
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, fmt.Errorf("read back the rows: %w", last)
		}
	}
}

func readRowsOnce(ctx context.Context, c cluster, run string) (map[int64]string, error) {
	conn, err := c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, srv FROM probe WHERE run = $1", run)
	if err != nil {
		return nil, err
	}
	present := map[int64]string{}
	var id int64
	var srv string
	_, err = pgx.ForEachRow(rows, []any{&id, &srv}, func() error {
		present[id] = srv
		return nil
	})
	return present, err
}

func runID(t *Trial) string {
	return t.Setup + "-r" + strconv.Itoa(t.Round) + "-" + t.Scenario
}

// randDur is a random duration in [0, d).
func randDur(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
