package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
)

// Defaults of the disk guard, used where Options leaves them zero.
const (
	// DefaultDiskFloor is the free space under DataDir below which the
	// node stops its etcd member and refuses control-plane writes. It is
	// twice what etcd allocates at once — a 64 MB WAL segment, which it
	// preallocates when it starts and whenever a segment fills — so that
	// a member running above the floor never meets a full disk in its
	// WAL, and one started again above it has room to start.
	DefaultDiskFloor = 128 << 20
	// DefaultDiskReserve is the size of the file the node keeps under
	// DataDir and deletes when the disk is nearly full, so that etcd can
	// still commit what it has begun and stop cleanly after something else
	// filled the disk at once.
	DefaultDiskReserve = 32 << 20
)

// diskCheckEvery is how often Run measures DataDir's free space; every
// control-plane write measures it too.
const diskCheckEvery = 500 * time.Millisecond

// ErrNoSpace is matched (errors.Is) by the errors of control-plane writes
// refused because DataDir's free space is below its floor. They match
// ErrUnavailable too: the data plane keeps serving, and the write may be
// tried again once space is freed.
var ErrNoSpace = errors.New("no space for control-plane writes")

// DiskLowError says why a control-plane write was refused: the free space
// under DataDir was below the floor. It matches ErrNoSpace.
type DiskLowError struct {
	Dir   string // DataDir
	Free  int64  // bytes available when it was measured
	Floor int64  // the floor, in bytes
}

func (e *DiskLowError) Error() string {
	return fmt.Sprintf("data_dir %s has %s free, below the %s floor: control-plane writes refused", e.Dir, formatBytes(e.Free), formatBytes(e.Floor))
}

// Unwrap makes the error match ErrNoSpace.
func (e *DiskLowError) Unwrap() error { return ErrNoSpace }

// DiskHealth is the free space under DataDir as the node last measured it.
type DiskHealth struct {
	Dir   string
	Free  int64 // bytes available; -1 before the first measure or when it failed
	Floor int64 // below it, control-plane writes are refused
	// Low is true from when Free fell below Floor until there is room
	// again for the member to start above it (see diskGuard.resume): the
	// etcd member is stopped and control-plane writes are refused, while
	// the edge serves from the last view.
	Low   bool
	Since time.Time // when Low last changed; zero before the first measure
	// Refused counts the control-plane writes refused for space since
	// the node started.
	Refused uint64
	Err     string // why the last measure failed; empty when it worked
}

// diskGuard measures the free space under a directory and says when
// control-plane writes must stop. It holds no timer: Run's disk loop and
// every control-plane write call check.
type diskGuard struct {
	dir   string
	floor int64
	// resume is the free space at which Low ends: the floor, plus the WAL
	// segment etcd preallocates as it starts (and deletes as it stops, so
	// that a stopped member's disk looks roomier than a running one's),
	// plus an eighth of the floor, so that a disk hovering at the floor
	// does not make the member stop and start over and over.
	resume   int64
	statfs   func(dir string) (int64, error) // bytes available to tandem under dir
	now      func() time.Time                // the clock of Since
	onLow    func()                          // told of each refusal; may be nil
	onChange func(DiskHealth)                // told when Low changes, with the new state; may be nil
	refused  atomic.Uint64                   // writes refused

	mu    sync.Mutex // guards state
	state DiskHealth
}

func newDiskGuard(dir string, floor int64) *diskGuard {
	return &diskGuard{
		dir: dir, floor: floor, resume: floor + wal.SegmentSizeBytes + floor/8,
		statfs: statfsFree, now: time.Now,
		state: DiskHealth{Dir: dir, Free: -1, Floor: floor},
	}
}

// statfsFree returns the bytes available to an unprivileged user under
// dir: the filesystem's reserved blocks stay a margin below zero.
func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// check measures the free space now and returns the new state, telling
// onChange if Low changed. A failed measure keeps Low as it was.
func (g *diskGuard) check() DiskHealth {
	h, changed := g.measure()
	if changed && g.onChange != nil {
		g.onChange(h)
	}
	return h
}

// measure is check without onChange.
func (g *diskGuard) measure() (h DiskHealth, changed bool) {
	free, err := g.statfs(g.dir)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := &g.state
	if err != nil {
		s.Free, s.Err = -1, err.Error()
	} else {
		s.Free, s.Err = free, ""
		low := free < g.floor || s.Low && free < g.resume
		changed = low != s.Low
		if changed || s.Since.IsZero() {
			s.Since = now
		}
		s.Low = low
	}
	s.Refused = g.refused.Load()
	return *s, changed
}

// health returns the last state without measuring.
func (g *diskGuard) health() DiskHealth {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.state
	h.Refused = g.refused.Load()
	return h
}

// admit measures the free space and returns nil if a control-plane
// write may go ahead; else an error matching ErrUnavailable and
// ErrNoSpace that says how much is free, and onLow is told.
func (g *diskGuard) admit() error {
	h := g.check()
	if !h.Low {
		return nil
	}
	g.refused.Add(1)
	if g.onLow != nil {
		g.onLow()
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, &DiskLowError{Dir: g.dir, Free: h.Free, Floor: g.floor})
}

// formatBytes writes n for a person: "40 KiB", "3.1 MiB", "128 MiB",
// "2.0 GiB".
func formatBytes(n int64) string {
	const mib = 1 << 20
	switch {
	case n < 0:
		return "an unknown amount"
	case n < mib:
		return fmt.Sprintf("%d KiB", n>>10)
	case n < 10*mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n < 1<<30:
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
