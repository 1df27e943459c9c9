package storage

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// replication is a replicator between two gateways, running.
type replication struct {
	store, replica *store
	pair           *Pair
	r              *Replicator

	mu   sync.Mutex // guards lags
	lags []time.Duration
}

func startReplication(t *testing.T, interval time.Duration) *replication {
	t.Helper()
	t.Parallel()
	rp := &replication{store: startStore(t), replica: startStore(t)}
	rp.pair = &Pair{Bucket: Bucket{App: "web", Name: "web-files", Replica: "web-copy"},
		Store: rp.store.bucket("web-files"), Replica: rp.replica.bucket("web-copy")}
	r, err := NewReplicator(ReplicatorOptions{Pairs: []*Pair{rp.pair}, Interval: interval, Workers: 4, SpoolDir: t.TempDir(),
		OnReplicated: func(_ string, lag time.Duration) { rp.mu.Lock(); rp.lags = append(rp.lags, lag); rp.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	rp.r = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30s after its context ended")
		}
	})
	return rp
}

// converged waits until the replica holds exactly the store's objects.
func (rp *replication) converged(t *testing.T, timeout time.Duration) map[string]string {
	t.Helper()
	var want map[string]string
	var why string
	deadline := time.Now().Add(timeout)
	for {
		want = contents(t, rp.pair.Store)
		ok, diff := sameContents(want, contents(t, rp.pair.Replica))
		if ok {
			return want
		}
		why = diff
		if time.Now().After(deadline) {
			t.Fatalf("replica not the store's copy after %s: %s (status %+v)", timeout, why, rp.r.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReplicatorCopiesWritesAndDeletes(t *testing.T) {
	rp := startReplication(t, 100*time.Millisecond)
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: spooled to a file
	put(t, rp.pair.Store, "a.txt", []byte("first"))
	put(t, rp.pair.Store, "dir/b c.bin", big)
	put(t, rp.pair.Store, "gone.txt", []byte("short-lived"))
	rp.converged(t, 20*time.Second)

	ctx := context.Background()
	h, err := rp.pair.Replica.Head(ctx, "a.txt")
	if err != nil || h.Meta.ContentType != "text/plain" || h.Meta.CacheControl != "public, max-age=60" {
		t.Errorf("replica's a.txt = %+v, %v; want the store's content type and cache control", h, err)
	}
	put(t, rp.pair.Store, "a.txt", []byte("second version"))
	if err := rp.pair.Store.Delete(ctx, "gone.txt"); err != nil {
		t.Fatal(err)
	}
	got := rp.converged(t, 20*time.Second)
	if _, ok := got["gone.txt"]; ok || len(got) != 2 {
		t.Fatalf("store after the delete = %v", got)
	}
	st := rp.r.Status().Buckets[0]
	if st.Copied < 4 || st.Deleted != 1 || st.Pending != 0 || st.Lag != 0 || st.Objects != 2 {
		t.Errorf("status = %+v; want 4 copies, 1 delete, nothing pending", st)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.lags) < 5 {
		t.Fatalf("%d lags reported; want one per change (5)", len(rp.lags))
	}
	for _, l := range rp.lags {
		// Within a poll interval and a copy, on a loaded machine.
		if l <= 0 || l > 15*time.Second {
			t.Errorf("lag %s; want > 0 and within the test's wait", l)
		}
	}
	if st.LagP99 <= 0 || st.LagMax < st.LagP99 || st.LagP99 < st.LagP50 {
		t.Errorf("lag percentiles p50 %s p99 %s max %s: not ordered", st.LagP50, st.LagP99, st.LagMax)
	}
}

// TestReplicatorOutage: writes made while the replica is down reach it
// once it is back, and the re-sync that follows its return finds the
// two sides the same.
func TestReplicatorOutage(t *testing.T) {
	rp := startReplication(t, 100*time.Millisecond)
	put(t, rp.pair.Store, "before.txt", []byte("before"))
	rp.converged(t, 20*time.Second)

	rp.replica.Stop()
	for i := range 5 {
		put(t, rp.pair.Store, "during-"+string(rune('a'+i)), []byte("written while the replica is down"))
	}
	waitUntil(t, "replica seen down", 20*time.Second, func() bool { return !rp.r.Status().ReplicaDown.IsZero() })
	waitUntil(t, "changes pending", 20*time.Second, func() bool {
		b := rp.r.Status().Buckets[0]
		return b.Pending == 5 && b.Lag > 0 && b.LastError != ""
	})

	rp.replica.Start()
	rp.converged(t, 30*time.Second)
	waitUntil(t, "re-sync after the replica's return", 30*time.Second, func() bool {
		rep := rp.r.Status().LastResync
		return rep != nil && strings.HasPrefix(rep.Reason, "replica back after")
	})
	st := rp.r.Status()
	if rep := st.LastResync; rep.Err != "" || rep.Checked != 6 || rep.Unresolved != 0 || rep.Failed != 0 {
		t.Errorf("re-sync after the outage = %+v; want 6 objects checked, nothing unresolved", rep)
	}
	if !st.ReplicaDown.IsZero() || st.Buckets[0].Pending != 0 {
		t.Errorf("status after the return = %+v; want the replica up, nothing pending", st)
	}
}

// TestResyncRepairsDamage: bytes changed on disk under either store
// (the ETag kept in the metadata still says what they were) are found
// by the re-sync: the replica's copy is copied again, the store's
// damaged object is restored from the replica.
func TestResyncRepairsDamage(t *testing.T) {
	rp := startReplication(t, 100*time.Millisecond)
	put(t, rp.pair.Store, "photo.jpg", []byte("the photo's bytes, as uploaded"))
	put(t, rp.pair.Store, "notes.txt", []byte("the notes, as uploaded"))
	want := rp.converged(t, 20*time.Second)

	corrupt := func(path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[3] ^= 0xff // same size, one byte flipped: a listing shows nothing
		if err := os.WriteFile(path, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(rp.replica.file("web-copy", "photo.jpg"))
	corrupt(rp.store.file("web-files", "notes.txt"))

	rp.r.RequestResync("test")
	waitUntil(t, "re-sync", 30*time.Second, func() bool {
		rep := rp.r.Status().LastResync
		return rep != nil && rep.Reason == "test"
	})
	rep := rp.r.Status().LastResync
	if rep.DamagedReplica != 1 || rep.DamagedStore != 1 || rep.Repaired != 2 || rep.Unresolved != 0 || rep.Err != "" {
		t.Fatalf("re-sync = %+v; want one damaged copy on each side, both repaired", rep)
	}
	for name, b := range map[string]*backup.S3Bucket{"store": rp.pair.Store, "replica": rp.pair.Replica} {
		if ok, diff := sameContents(want, contents(t, b)); !ok {
			t.Errorf("%s after the repair: %s", name, diff)
		}
	}
	rp.r.RequestResync("check")
	waitUntil(t, "second re-sync", 30*time.Second, func() bool {
		rep := rp.r.Status().LastResync
		return rep != nil && rep.Reason == "check"
	})
	if rep := rp.r.Status().LastResync; rep.Differences() != 0 || rep.Checked != 2 {
		t.Errorf("re-sync after the repair = %+v; want 2 checked, no difference", rep)
	}
}

// TestCopyRefusesDamagedObject: a poll does not spread a damaged object
// of the store to the replica.
func TestCopyRefusesDamagedObject(t *testing.T) {
	t.Parallel()
	s, r := startStore(t), startStore(t)
	p := &Pair{Store: s.bucket("a-b"), Replica: r.bucket("a-b")}
	put(t, p.Store, "x", []byte("intact bytes"))
	if err := os.WriteFile(s.file("a-b", "x"), []byte("damage bytes"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := copyObject(context.Background(), p, "x", t.TempDir()); !strings.Contains(err.Error(), ErrCorrupt.Error()) {
		t.Errorf("copy of a damaged object = %v; want ErrCorrupt", err)
	}
	if got := contents(t, p.Replica); len(got) != 0 {
		t.Errorf("the replica got %v", got)
	}
}

func TestLagWindow(t *testing.T) {
	t.Parallel()
	var w lagWindow
	if a, b, c := w.percentiles(); a != 0 || b != 0 || c != 0 {
		t.Errorf("empty window = %s %s %s; want zeros", a, b, c)
	}
	for i := 1; i <= 100; i++ {
		w.add(time.Duration(i) * time.Millisecond)
	}
	if p50, p99, m := w.percentiles(); p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || m != 100*time.Millisecond {
		t.Errorf("1..100ms: p50 %s p99 %s max %s; want 50ms 99ms 100ms", p50, p99, m)
	}
	for range lagWindowSize {
		w.add(time.Second)
	}
	if p50, _, m := w.percentiles(); p50 != time.Second || m != time.Second {
		t.Errorf("after a full window of 1s: p50 %s max %s; want the old lags gone", p50, m)
	}
}

// TestResyncOnSchedule: the re-sync runs when NextResync says, and is
// scheduled again after it.
func TestResyncOnSchedule(t *testing.T) {
	t.Parallel()
	s, r := startStore(t), startStore(t)
	pair := &Pair{Bucket: Bucket{App: "web"}, Store: s.bucket("web-files"), Replica: r.bucket("web-copy")}
	put(t, pair.Store, "a.txt", []byte("a"))
	var mu sync.Mutex
	var asked []time.Time
	repl, err := NewReplicator(ReplicatorOptions{Pairs: []*Pair{pair}, Interval: 50 * time.Millisecond, SpoolDir: t.TempDir(),
		NextResync: func(now time.Time) time.Time {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, now)
			return now.Add(300 * time.Millisecond)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- repl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "scheduled re-sync", 20*time.Second, func() bool {
		rep := repl.Status().LastResync
		return rep != nil && rep.Reason == "schedule"
	})
	if rep := repl.Status().LastResync; rep.Checked != 1 || rep.Differences() != 0 {
		t.Errorf("scheduled re-sync = %+v; want a.txt checked, in sync (copied by the polls)", rep)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 2 {
		t.Errorf("NextResync asked %d times; want again after the re-sync started", len(asked))
	}
}

// TestResyncRepairAfterAPoll: a re-sync that found the replica without
// the store's version of a key leaves it be when a poll copied that
// version meanwhile (it copied it a second time), and still replaces a
// copy it found damaged.
func TestResyncRepairAfterAPoll(t *testing.T) {
	t.Parallel()
	store, replica := startStore(t), startStore(t)
	pair := &Pair{Bucket: Bucket{App: "web", Name: "web-files", Replica: "web-copy"},
		Store: store.bucket("web-files"), Replica: replica.bucket("web-copy")}
	r, err := NewReplicator(ReplicatorOptions{Pairs: []*Pair{pair}, Interval: time.Hour, Workers: 1, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	etag := put(t, pair.Store, "a.txt", []byte("first"))
	b := r.bucketOf(pair)
	// What the index holds after a poll copied a.txt; the replica's
	// bucket is left empty, so that a copy made by the repair shows.
	b.indexed, b.index = true, map[string]string{"a.txt": etag}

	ctx := t.Context()
	if err := r.repair(ctx, repair{pair: pair, key: "a.txt", v: copyToReplica, etag: etag, outdated: true}); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, pair.Replica); len(got) != 0 {
		t.Errorf("replica after the repair of a copy a poll made = %v; want it left to the poll (no second copy)", got)
	}
	if st := r.Status().Buckets[0]; st.Copied != 0 {
		t.Errorf("copies counted = %d; want 0", st.Copied)
	}

	if err := r.repair(ctx, repair{pair: pair, key: "a.txt", v: copyToReplica, etag: etag}); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, pair.Replica); got["a.txt"] == "" {
		t.Errorf("replica after the repair of a damaged copy = %v; want a.txt copied again", got)
	}
}
