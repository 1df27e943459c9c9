package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-run/tandem/internal/disktest"
)

// diskTestSize is the small filesystem the tests give a node as its
// DataDir: etcd preallocates two 64 MB WAL segments, the space reserve
// takes 32 MiB, and what is left is above the 128 MiB floor with room
// for a WAL segment more.
const diskTestSize = 400 << 20

// openOnSmallDisk opens and runs a node whose DataDir is a small
// filesystem of its own.
func openOnSmallDisk(t *testing.T, setup ...func(*Cluster)) (*testNode, string) {
	t.Helper()
	dir := disktest.Mount(t, diskTestSize)
	o := testOptions(t, "a", "127.0.0.1")
	o.DataDir = dir
	n := openNode(t, o, setup...)
	waitFor(t, 10*time.Second, "space reserve made", func() bool { return n.reserve.present() })
	return n, dir
}

// TestDiskFloor: once DataDir's free space falls below the floor, every
// control-plane write is refused at once with an error naming the cause,
// the member stops, the node's health says why; once space is freed, the
// member starts again by itself and writes work.
func TestDiskFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem and runs etcd on it")
	}
	n, dir := openOnSmallDisk(t)
	ctx := t.Context()
	if err := n.PutRecord(ctx, "k", "before", []byte("v")); err != nil {
		t.Fatalf("PutRecord with room = %v", err)
	}

	fill := disktest.Fill(t, dir, 50<<20) // below the 128 MiB floor, above the reserve
	err := n.PutRecord(ctx, "k", "low", []byte("v"))
	var low *DiskLowError
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNoSpace) || !errors.As(err, &low) {
		t.Fatalf("PutRecord below the floor = %v; want ErrUnavailable, ErrNoSpace and a *DiskLowError", err)
	}
	want := fmt.Sprintf("data_dir %s has ", dir)
	if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "below the 128 MiB floor: control-plane writes refused") {
		t.Errorf("PutRecord error %q; want it to name %q and the 128 MiB floor", msg, dir)
	}
	if err := n.RequireQuorum("deploy web"); !errors.Is(err, ErrNoSpace) || !strings.HasPrefix(err.Error(), "deploy web: ") {
		t.Errorf("RequireQuorum below the floor = %v; want ErrNoSpace prefixed with the op", err)
	}
	start := time.Now()
	if _, err := n.TryLock(ctx, "deploy/web", "test"); !errors.Is(err, ErrNoSpace) || time.Since(start) > time.Second {
		t.Errorf("TryLock below the floor = %v after %v; want ErrNoSpace at once", err, time.Since(start))
	}
	waitFor(t, 10*time.Second, "member stopped and health to say so", func() bool {
		h := n.Health()
		return !h.Quorum && h.Disk.Low && strings.Contains(h.Err, "below the 128 MiB floor")
	})
	if h := n.Health(); h.Disk.Refused < 3 || h.Disk.Free >= DefaultDiskFloor || h.Disk.Floor != DefaultDiskFloor {
		t.Errorf("Health().Disk = %+v; want Low, Refused >= 3, Free below the floor %d", h.Disk, DefaultDiskFloor)
	}
	if !n.reserve.present() {
		t.Errorf("space reserve released with 50 MiB free; want it kept until the disk is nearly full")
	}

	// A stopped member deletes the WAL segment it had preallocated.
	waitFor(t, 10*time.Second, "the member's WAL segment freed", func() bool { return disktest.Free(t, dir) > 100<<20 })
	fill.Leave(0) // something fills the disk to the last byte
	waitFor(t, 10*time.Second, "space reserve released", func() bool { return !n.reserve.present() })

	fill.Remove()
	waitFor(t, 30*time.Second, "member started again", func() bool { return n.Health().Quorum })
	if h := n.Health(); h.Disk.Low {
		t.Errorf("Health().Disk.Low = true after space was freed")
	}
	if err := n.PutRecord(ctx, "k", "after", []byte("v")); err != nil {
		t.Fatalf("PutRecord after space was freed = %v", err)
	}
	for _, id := range []string{"before", "after"} {
		if _, err := n.Record(ctx, "k", id); err != nil {
			t.Errorf("Record(k/%s) = %v", id, err)
		}
	}
	waitFor(t, 10*time.Second, "space reserve made again", func() bool { return n.reserve.present() })
}

// TestDiskFloorAtOpen: a node does not start its member on a disk below
// the floor; Open says why.
func TestDiskFloorAtOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 64<<20)
	o := testOptions(t, "a", "127.0.0.1")
	o.DataDir = dir
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Open(t.Context())
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "below the 128 MiB floor") {
		t.Errorf("Open on a 64 MiB disk = %v; want ErrNoSpace naming the floor", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open below the floor wrote %d entries into data_dir; want none", len(entries))
	}
}

// childEnv names the test a re-executed test binary runs as a child.
const childEnv = "TANDEM_CLUSTER_DISK_CHILD"

// inChild runs body in a child process: this test binary run again with
// only the calling test and childEnv set. A failure that ends the process
// (etcd's fatal exit) thus fails the test with the child's log rather
// than killing the whole test binary.
func inChild(t *testing.T, body func(*testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child process: %v; its output:\n%s", err, tail(out.String(), 40))
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not pass; its output:\n%s", tail(out.String(), 40))
	}
}

// TestFullDiskKeepsProcess is the defect as a user met it: with the
// disk full, ordinary writes (purges, records, locks, tokens) made etcd
// fail to commit, and etcd's fatal error ended the process — edge,
// instances and all. The writes run in a child process; it must stay up,
// every write refused with the cause.
func TestFullDiskKeepsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem and runs etcd on it in a child process")
	}
	inChild(t, fullDiskWrites)
}

// fullDiskWrites fills the disk under a running node and makes every
// kind of control-plane write.
func fullDiskWrites(t *testing.T) {
	n, dir := openOnSmallDisk(t)
	ctx := t.Context()
	purges := n.PurgeLog("a", filepath.Join(dir, "purge-cursor.json"))
	disktest.Fill(t, dir, 0)
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		writes := []struct {
			what string
			err  error
		}{
			{"put record", n.PutRecord(ctx, "k", fmt.Sprint(i), bytes.Repeat([]byte("x"), 10_000))},
			{"publish purge", func() error { _, err := purges.Publish(ctx, []byte(`{"kind":"url"}`)); return err }()},
			{"lock", func() error { _, err := n.TryLock(ctx, "deploy/web", "t"); return err }()},
			{"join token", func() error { _, err := n.CreateJoinToken(ctx, time.Minute); return err }()},
		}
		for _, w := range writes {
			if !errors.Is(w.err, ErrNoSpace) {
				t.Fatalf("%s on a full disk = %v; want ErrNoSpace", w.what, w.err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "member stopped", func() bool { return !n.Health().Quorum })
	if h := n.Health(); !h.Disk.Low || h.Disk.Free >= DefaultDiskFloor {
		t.Errorf("Health().Disk = %+v; want Low, below the floor", h.Disk)
	}
}

// TestEtcdFatalKeepsProcess: when etcd meets a full disk after all —
// the guard is blinded here, so writes reach it — its fatal error fails
// the member, not the process; the node reports it, refuses changes and
// tells to restart.
func TestEtcdFatalKeepsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem and runs etcd on it in a child process")
	}
	inChild(t, etcdFatal)
}

func etcdFatal(t *testing.T) {
	var blind atomic.Bool // the guard sees room, always
	n, dir := openOnSmallDisk(t, func(c *Cluster) {
		c.guard.statfs = func(dir string) (int64, error) {
			if blind.Load() {
				return 1 << 40, nil
			}
			return statfsFree(dir)
		}
	})
	ctx := t.Context()
	blind.Store(true)
	if err := n.reserve.release(); err != nil {
		t.Fatal(err)
	}
	disktest.Fill(t, dir, 0)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		err = n.PutRecord(ctx, "k", fmt.Sprint(i), bytes.Repeat([]byte("x"), 100_000))
	}
	waitFor(t, 20*time.Second, "member marked failed", func() bool {
		return strings.Contains(n.Health().Err, "restart tandem")
	})
	h := n.Health()
	if h.Quorum || !strings.Contains(h.Err, "no space left on device") {
		t.Errorf("Health() = %+v; want no quorum, the etcd error naming the full disk", h)
	}
	if err := n.RequireQuorum("deploy web"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RequireQuorum after etcd failed = %v; want ErrUnavailable", err)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// TestPurgeCursorOnFullDisk: with the disk under the cursor file full, a
// follower goes on applying purges; the file keeps the revision it had
// (never a torn or empty file, no temporary file left), and catches up
// once space is freed.
func TestPurgeCursorOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 1<<20)
	client := startTestEtcd(t)
	fa, fb := newTestFollower(t, client, "a"), newTestFollower(t, client, "b")
	fb.cursor = filepath.Join(dir, "purge-cursor.json")
	fa.start()
	fb.start()
	waitApplied(t, fa.log, 1, "a", "b")
	first := publish(t, fa.log, 0, 10)
	waitApplied(t, fa.log, first[len(first)-1].rev, "b")
	before, err := os.ReadFile(fb.cursor)
	if err != nil {
		t.Fatal(err)
	}

	fill := disktest.Fill(t, dir, 0)
	more := publish(t, fa.log, 10, 20)
	waitApplied(t, fa.log, more[len(more)-1].rev, "b")
	checkApplied(t, fb, append(first, more...), 0)
	time.Sleep(2 * flushEvery) // a few cursor writes fail meanwhile
	if after, err := os.ReadFile(fb.cursor); err != nil || !bytes.Equal(after, before) {
		t.Errorf("cursor file on a full disk = %q, %v; want it unchanged: %q", after, err, before)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "purge-cursor.json" && e.Name() != "filler" {
			t.Errorf("%s left in the cursor's directory by a failed write", e.Name())
		}
	}

	fill.Remove()
	want := fmt.Sprintf(`"revision": %d`, more[len(more)-1].rev)
	waitFor(t, 10*time.Second, "cursor caught up", func() bool {
		b, _ := os.ReadFile(fb.cursor)
		return bytes.Contains(b, []byte(want))
	})
}

// TestQuotaAlarm: at the quota etcd raises its NOSPACE alarm and refuses
// writes; the node says so, refuses changes at once, and disarms the
// alarm itself once the database is compacted and defragmented below
// the quota.
func TestQuotaAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("fills etcd's database")
	}
	o := testOptions(t, "a", "127.0.0.1")
	o.QuotaBackendBytes = 2 << 20
	n := openNode(t, o)
	ctx := t.Context()
	value := bytes.Repeat([]byte("x"), 100_000)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = n.PutRecord(ctx, "big", fmt.Sprint(i), value)
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "reached its quota") {
		t.Fatalf("PutRecord past the quota = %v; want ErrUnavailable saying the quota was reached", err)
	}
	waitFor(t, 5*time.Second, "health to tell the alarm", func() bool { return n.Health().Alarm != "" })
	if err := n.RequireQuorum("deploy web"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "NOSPACE alarm is raised by a") {
		t.Errorf("RequireQuorum with the alarm raised = %v; want ErrUnavailable naming the alarm and member a", err)
	}

	// What an operator does: drop what filled it, compact, defragment.
	resp, err := n.Client().Delete(ctx, n.Prefix()+recordsDir+"big/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete under the alarm = %v", err)
	}
	if _, err := n.Client().Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact = %v", err)
	}
	if _, err := n.Client().Defragment(ctx, n.opts.clientURL()); err != nil {
		t.Fatalf("defragment = %v", err)
	}
	waitFor(t, 10*time.Second, "alarm disarmed", func() bool { return n.Health().Alarm == "" })
	if err := n.PutRecord(ctx, "k", "after", []byte("v")); err != nil {
		t.Errorf("PutRecord after the alarm was disarmed = %v", err)
	}
}

// TestDiskFloorInCluster: in a three-member cluster, the member of the
// node whose disk fills stops — to the others like a node that is down,
// and they keep their quorum — and starts again and catches up once
// space is freed.
func TestDiskFloorInCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("forms a three-member cluster and mounts a filesystem")
	}
	ctx := t.Context()
	a := openNode(t, testOptions(t, "a", "127.0.0.1"))
	token, err := a.CreateJoinToken(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	ob := testOptions(t, "b", "127.0.0.2")
	ob.Join, ob.DataDir = token, disktest.Mount(t, diskTestSize)
	b := openNode(t, ob)
	oc := testOptions(t, "c", "127.0.0.3")
	oc.Join = token
	c := openNode(t, oc)
	wantMembers(t, a, []string{"a", "b", "c"}, 3)

	fill := disktest.Fill(t, ob.DataDir, 50<<20)
	if err := b.PutRecord(ctx, "k", "on-b", []byte("v")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("PutRecord on b below the floor = %v; want ErrNoSpace", err)
	}
	waitFor(t, 10*time.Second, "b's member stopped", func() bool { return !b.Health().Quorum })
	for _, n := range []*testNode{a, c} {
		if err := n.PutRecord(ctx, "k", "while-b-is-low-"+n.opts.Node, []byte("v")); err != nil {
			t.Errorf("PutRecord on %s while b is low = %v; want the others to keep their quorum", n.opts.Node, err)
		}
	}

	fill.Remove()
	waitFor(t, 30*time.Second, "b's member back", func() bool { return b.Health().Quorum })
	for _, id := range []string{"while-b-is-low-a", "while-b-is-low-c"} {
		if _, err := b.Record(ctx, "k", id); err != nil {
			t.Errorf("Record(k/%s) on b once back = %v; want what the others wrote meanwhile", id, err)
		}
	}
	if err := b.PutRecord(ctx, "k", "on-b", []byte("v")); err != nil {
		t.Errorf("PutRecord on b once back = %v", err)
	}
	wantMembers(t, a, []string{"a", "b", "c"}, 3)
}
