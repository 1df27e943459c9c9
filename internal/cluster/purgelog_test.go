package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// testFollower is one node following the purge log, recording what it
// applies.
type testFollower struct {
	t      *testing.T
	client *clientv3.Client
	node   string
	cursor string
	log    *PurgeLog
	stop   func()

	mu      sync.Mutex // guards the fields below
	applied []appliedPurge
	resets  int
}

type appliedPurge struct {
	rev    int64
	origin string
	ev     string
}

func newTestFollower(t *testing.T, client *clientv3.Client, node string) *testFollower {
	return &testFollower{t: t, client: client, node: node, cursor: filepath.Join(t.TempDir(), "purge-cursor.json")}
}

// start runs Follow with a new PurgeLog on the same cursor file, as a
// restarted node does, and clears what was recorded.
func (f *testFollower) start() {
	f.mu.Lock()
	f.applied, f.resets = nil, 0
	f.mu.Unlock()
	f.log = NewPurgeLog(PurgeLogOptions{Client: fixedClient(f.client), Prefix: testPrefix, Node: f.node, CursorFile: f.cursor, Logger: testLogger(f.t)})
	f.stop = goRun(f.t, func(ctx context.Context) error {
		return f.log.Follow(ctx, f.apply, f.reset)
	})
}

func (f *testFollower) apply(rev int64, origin string, ev []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, appliedPurge{rev, origin, string(ev)})
}

func (f *testFollower) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
}

func (f *testFollower) got() ([]appliedPurge, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied), f.resets
}

// publish publishes events named name-<i> for i in [from, to) and returns
// what a follower should apply for them.
func publish(t *testing.T, log *PurgeLog, from, to int) []appliedPurge {
	t.Helper()
	var want []appliedPurge
	for i := from; i < to; i++ {
		ev := fmt.Sprintf("purge-%03d", i)
		rev, err := log.Publish(t.Context(), []byte(ev))
		if err != nil {
			t.Fatalf("Publish(%q) = %v", ev, err)
		}
		want = append(want, appliedPurge{rev, "a", ev})
	}
	return want
}

// waitApplied waits until nodes acknowledged rev.
func waitApplied(t *testing.T, log *PurgeLog, rev int64, nodes ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := log.WaitApplied(ctx, rev, nodes); err != nil {
		t.Fatalf("WaitApplied(%d, %v) = %v", rev, nodes, err)
	}
}

func checkApplied(t *testing.T, f *testFollower, want []appliedPurge, wantResets int) {
	t.Helper()
	got, resets := f.got()
	if !slices.Equal(got, want) {
		t.Errorf("node %s applied %d events %v; want %d events %v", f.node, len(got), got, len(want), want)
	}
	if resets != wantResets {
		t.Errorf("node %s reset %d times; want %d", f.node, resets, wantResets)
	}
}

func TestPurgeLogReplicates(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	fa, fb, fc := newTestFollower(t, client, "a"), newTestFollower(t, client, "b"), newTestFollower(t, client, "c")
	for _, f := range []*testFollower{fa, fb, fc} {
		f.start()
	}
	pub := fa.log
	// A first start begins at the current revision: wait for all three
	// to be there (they ack it) before publishing.
	waitApplied(t, pub, 1, "a", "b", "c")

	want := publish(t, pub, 0, 200)
	waitApplied(t, pub, want[len(want)-1].rev, "a", "b", "c")
	checkApplied(t, fa, nil, 0) // the origin applied them when it accepted them
	checkApplied(t, fb, want, 0)
	checkApplied(t, fc, want, 0)

	t.Run("restart from cursor", func(t *testing.T) {
		fc.stop()
		missed := publish(t, pub, 200, 220)
		fc.start()
		// CaughtUp means the missed events are applied: a node may
		// serve its cache from then on.
		select {
		case <-fc.log.CaughtUp():
		case <-time.After(10 * time.Second):
			t.Fatal("CaughtUp not closed 10s after the restart")
		}
		checkApplied(t, fc, missed, 0)
		waitApplied(t, pub, missed[len(missed)-1].rev, "a", "b", "c")
	})

	t.Run("restart with nothing missed", func(t *testing.T) {
		fc.stop()
		// Other keys move etcd's revision past the cursor; no purge.
		for i := range 5 {
			if _, err := client.Put(t.Context(), testPrefix+"nodes/x", strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		fc.start()
		select {
		case <-fc.log.CaughtUp():
		case <-time.After(5 * time.Second):
			t.Fatal("CaughtUp not closed 5s after a restart that missed no purge")
		}
		checkApplied(t, fc, nil, 0)
	})

	t.Run("restart after compaction", func(t *testing.T) {
		fc.stop()
		stale := publish(t, pub, 220, 230)
		resp, err := client.Compact(t.Context(), stale[len(stale)-1].rev, clientv3.WithCompactPhysical())
		if err != nil {
			t.Fatalf("Compact = %v, %v", resp, err)
		}
		fc.start()
		// c acknowledges the compacted events once it has reset: it
		// cannot have missed any after that.
		waitApplied(t, pub, stale[len(stale)-1].rev, "c")
		fresh := publish(t, pub, 230, 231)
		waitApplied(t, pub, fresh[0].rev, "a", "b", "c")
		checkApplied(t, fc, fresh, 1)
	})
}

func TestWaitAppliedNamesLaggards(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	fa, fb := newTestFollower(t, client, "a"), newTestFollower(t, client, "b")
	fa.start()
	fb.start()
	waitApplied(t, fa.log, 1, "a", "b")
	want := publish(t, fa.log, 0, 1)
	waitApplied(t, fa.log, want[0].rev, "a", "b")

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := fa.log.WaitApplied(ctx, want[0].rev, []string{"a", "gone", "b", "absent"})
	var nae *NotAppliedError
	if !errors.As(err, &nae) || !slices.Equal(nae.Nodes, []string{"absent", "gone"}) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitApplied with absent nodes = %v; want a NotAppliedError naming absent, gone, wrapping the deadline", err)
	}
}

func TestPurgeFollowUnusableCursorResets(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	pub := NewPurgeLog(PurgeLogOptions{Client: fixedClient(client), Prefix: testPrefix, Node: "a"})
	publish(t, pub, 0, 3) // history the cursor cannot be trusted to cover
	for _, tt := range []struct {
		name, cursor string
	}{
		{"garbage", "{not json"},
		{"other cluster", `{"revision": 2, "cluster_id": 1}`},
		{"future revision", `{"revision": 1000000, "cluster_id": 0}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node := strings.ReplaceAll(tt.name, " ", "-") // acks of one subtest must not satisfy the next
			f := newTestFollower(t, client, node)
			if err := os.WriteFile(f.cursor, []byte(tt.cursor), 0o644); err != nil {
				t.Fatal(err)
			}
			f.start()
			rev := publish(t, pub, 3, 4)[0].rev
			waitApplied(t, pub, rev, node)
			f.stop()
			got, resets := f.got()
			if resets != 1 || len(got) > 1 {
				t.Errorf("Follow with cursor %q: %d resets, applied %v; want 1 reset and at most the new event", tt.cursor, resets, got)
			}
		})
	}
}
