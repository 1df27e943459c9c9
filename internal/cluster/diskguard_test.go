package cluster

import (
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/wal"
)

// TestDiskGuardHysteresis: writes stop below the floor and resume only
// once there is room for the member to start above it again.
func TestDiskGuardHysteresis(t *testing.T) {
	const floor = 100 << 20
	g := newDiskGuard("/data", floor)
	var free int64
	g.statfs = func(string) (int64, error) { return free, nil }
	var changes []bool
	g.onChange = func(h DiskHealth) { changes = append(changes, h.Low) }
	resume := floor + wal.SegmentSizeBytes + floor/8
	steps := []struct {
		free int64
		low  bool
	}{
		{500 << 20, false},
		{floor, false},
		{floor - 1, true},
		{floor + 1, true}, // back above the floor, not above resume
		{resume - 1, true},
		{resume, false},
		{floor, false},
		{0, true},
	}
	for _, s := range steps {
		free = s.free
		err := g.admit()
		if low := err != nil; low != s.low {
			t.Errorf("admit() with %d bytes free = %v; want low %v", s.free, err, s.low)
		}
		if err != nil {
			var dl *DiskLowError
			if !errors.Is(err, ErrUnavailable) || !errors.As(err, &dl) || dl.Free != s.free || dl.Floor != floor {
				t.Errorf("admit() = %v; want ErrUnavailable and a DiskLowError of %d free", err, s.free)
			}
		}
	}
	if want := []bool{true, false, true}; len(changes) != len(want) || changes[0] != want[0] || changes[1] != want[1] || changes[2] != want[2] {
		t.Errorf("onChange told %v; want %v", changes, want)
	}
	if h := g.health(); h.Refused != 4 || !h.Low {
		t.Errorf("health() = %+v; want Low with 4 refused", h)
	}
}

// TestDiskGuardStatfsError: a failed measure refuses nothing and says why.
func TestDiskGuardStatfsError(t *testing.T) {
	g := newDiskGuard("/gone", 1<<20)
	g.now = func() time.Time { return time.Unix(0, 0) }
	g.statfs = func(string) (int64, error) { return 0, errors.New("statfs /gone: no such file or directory") }
	if err := g.admit(); err != nil {
		t.Errorf("admit() with statfs failing = %v; want nil", err)
	}
	if h := g.health(); h.Free != -1 || h.Err == "" || h.Low {
		t.Errorf("health() = %+v; want Free -1, Err set, not Low", h)
	}
}

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 KiB"}, {40 << 10, "40 KiB"}, {3_250_000, "3.1 MiB"}, {128 << 20, "128 MiB"}, {2 << 30, "2.0 GiB"}, {-1, "an unknown amount"}} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %q; want %q", c.n, got, c.want)
		}
	}
}

// TestGatedWrites: what the client gate takes for a write.
func TestGatedWrites(t *testing.T) {
	put := clientv3.OpPut("k", "v")
	get := clientv3.OpGet("k")
	del := clientv3.OpDelete("k")
	for _, c := range []struct {
		name string
		op   clientv3.Op
		want bool
	}{
		{"put", put, true},
		{"get", get, false},
		{"delete", del, false},
		{"txn of gets", clientv3.OpTxn(nil, []clientv3.Op{get}, []clientv3.Op{del}), false},
		{"txn putting in else", clientv3.OpTxn(nil, []clientv3.Op{get}, []clientv3.Op{put}), true},
		{"nested txn putting", clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpTxn(nil, nil, []clientv3.Op{put})}, nil), true},
	} {
		if got := writes(c.op); got != c.want {
			t.Errorf("writes(%s) = %v; want %v", c.name, got, c.want)
		}
	}
}
