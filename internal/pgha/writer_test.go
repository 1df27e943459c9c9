package pgha

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// write is one INSERT the writer made: acknowledged (ok) or not.
type write struct {
	id     int64
	member string
	sent   time.Time
	ack    time.Time
	ok     bool
}

// writer inserts a counter row every 10 ms into whichever member is
// primary, like the anchor's probe: it connects to each member directly
// in turn until one is not in recovery, and records every write's fate.
type writer struct {
	tc     *testCluster
	run    string
	pin    string // write to this member only, primary or not ("": the primary)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards writes
	writes []write
}

// healthyCluster starts a cluster seeded at a, waits until a leads it
// with every standby streaming, and creates the writer's table.
func healthyCluster(t *testing.T, spec clusterSpec) *testCluster {
	t.Helper()
	tc := newTestCluster(t, spec)
	tc.waitHealthy("a", 90*time.Second)
	createProbeTable(t, tc, "a")
	return tc
}

func createProbeTable(t *testing.T, tc *testCluster, leader string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := tc.appConn(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS probe (run text, id bigint, PRIMARY KEY (run, id))"); err != nil {
		t.Fatal(err)
	}
}

func startWriter(tc *testCluster, run string) *writer { return startPinnedWriter(tc, run, "") }

// startPinnedWriter writes to member pin only: during a partition, one
// writer per side shows which sides acknowledge.
func startPinnedWriter(tc *testCluster, run, pin string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{tc: tc, run: run, pin: pin, cancel: cancel}
	w.wg.Go(func() { w.loop(ctx) })
	return w
}

func (w *writer) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *writer) loop(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var conn *pgx.Conn
	var member string
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var id int64
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		id++
		if conn == nil {
			conn, member, next = w.findPrimary(ctx, next)
			if conn == nil {
				continue
			}
		}
		sent := time.Now()
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := conn.Exec(octx, "INSERT INTO probe (run, id) VALUES ($1, $2)", w.run, id)
		cancel()
		wr := write{id: id, member: member, sent: sent, ack: time.Now(), ok: err == nil}
		w.mu.Lock()
		w.writes = append(w.writes, wr)
		w.mu.Unlock()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// findPrimary connects to the members in turn from start and returns a
// connection to the first not in recovery.
func (w *writer) findPrimary(ctx context.Context, start int) (*pgx.Conn, string, int) {
	names := w.tc.spec.names
	if w.pin != "" {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := w.tc.appConn(cctx, w.pin)
		if err != nil {
			return nil, "", 0
		}
		return c, w.pin, 0
	}
	for k := range names {
		i := (start + k) % len(names)
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := w.tc.appConn(cctx, names[i])
		if err != nil {
			cancel()
			continue
		}
		var rec bool
		err = c.QueryRow(cctx, "SELECT pg_is_in_recovery()").Scan(&rec)
		cancel()
		if err != nil || rec {
			c.Close(context.Background())
			continue
		}
		return c, names[i], i
	}
	return nil, "", start
}

func (w *writer) snapshot() []write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// firstAckAfter returns the first acknowledged write sent after t by a
// member other than not.
func (w *writer) firstAckAfter(t time.Time, not string) (write, bool) {
	for _, wr := range w.snapshot() {
		if wr.ok && wr.sent.After(t) && wr.member != not {
			return wr, true
		}
	}
	return write{}, false
}

// waitAckAfter waits for firstAckAfter.
func (w *writer) waitAckAfter(t *testing.T, after time.Time, not string, timeout time.Duration) write {
	t.Helper()
	var wr write
	waitFor(t, timeout, "a write acknowledged after "+after.Format("15:04:05.000"), func() bool {
		var ok bool
		wr, ok = w.firstAckAfter(after, not)
		return ok
	})
	return wr
}

// present reads which of the run's rows member n has.
func (w *writer) present(t *testing.T, n string) map[int64]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := w.tc.appConn(ctx, n)
	if err != nil {
		t.Fatalf("read %s: %v", n, err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id FROM probe WHERE run = $1", w.run)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	present := make(map[int64]bool, len(ids))
	for _, id := range ids {
		present[id] = true
	}
	return present
}

// acks returns the acknowledged writes.
func (w *writer) acks() []write {
	var out []write
	for _, wr := range w.snapshot() {
		if wr.ok {
			out = append(out, wr)
		}
	}
	return out
}

// verify checks the history strictly against the table on the primary:
// every acknowledged write is present, and no member acknowledged a write
// after another member had begun acknowledging (two primaries at once)
// unless its write survived. It returns how many unacknowledged writes
// were committed anyway.
func (w *writer) verify(t *testing.T, primary string) (unackedPresent int) {
	t.Helper()
	present := w.present(t, primary)
	writes := w.snapshot()
	var lost []int64
	acked := make(map[int64]bool)
	for _, wr := range writes {
		if wr.ok {
			acked[wr.id] = true
			if !present[wr.id] {
				lost = append(lost, wr.id)
			}
		}
	}
	for id := range present {
		if !acked[id] {
			unackedPresent++
		}
	}
	if len(lost) > 0 {
		t.Errorf("run %s: %d acknowledged writes lost: %v", w.run, len(lost), lost[:min(len(lost), 20)])
	}
	if err := checkOneWriter(writes, present); err != nil {
		t.Errorf("run %s: %v", w.run, err)
	}
	return unackedPresent
}

// checkOneWriter fails when two members acknowledged writes at once and
// a write of the one that should have stopped did not survive: acks are
// ordered by when they were sent into reigns of one member; a member's
// ack that came back after the next reign's first write was sent shows
// both accepting writes, which is only harmless if that write is in the
// final history (a synchronous standby had it before it was promoted).
func checkOneWriter(writes []write, present map[int64]bool) error {
	var acks []write
	for _, wr := range writes {
		if wr.ok {
			acks = append(acks, wr)
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].sent.Before(acks[j].sent) })
	for i := 1; i < len(acks); i++ {
		if acks[i].member == acks[i-1].member {
			continue
		}
		next := acks[i] // the first write of a new reign
		for j := i - 1; j >= 0 && acks[j].member != next.member; j-- {
			if acks[j].ack.After(next.sent) && !present[acks[j].id] {
				return fmt.Errorf("%s acknowledged write %d at %s, after %s took writes (from %s), and the write is lost: two primaries",
					acks[j].member, acks[j].id, acks[j].ack.Format("15:04:05.000"), next.member, next.sent.Format("15:04:05.000"))
			}
		}
	}
	return nil
}

// durations summarises min / median / max.
func durations(ds []time.Duration) (lo, med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, func(a, b time.Duration) int { return cmp.Compare(a, b) })
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}
