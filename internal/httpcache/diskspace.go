package httpcache

import (
	"fmt"
	"syscall"
	"time"
)

// DefaultDiskMinFree is DiskOptions.MinFree when it is zero: twice the
// control plane's floor under data_dir (128 MiB), so that a disk tier on
// that filesystem — its default place — gives way first.
const DefaultDiskMinFree = 256 << 20

// spaceCheckEvery is how often, at least, writes measure the free space;
// they measure sooner once they have written what was free above the
// floor at the last measure.
const spaceCheckEvery = time.Second

// The disk tier keeps off the last MinFree bytes of its filesystem, which
// it may share with other files (tandem's data_dir, logs, uploads): below
// them it stores nothing new and shrinks its budget by what is missing,
// evicting objects, until there is room again. Memory keeps serving.

// statfsFree returns the bytes available to an unprivileged user under dir.
func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// roomy reports whether the tier's filesystem has room for a new object
// of n bytes (so far); called before a write. It measures the free space
// when the writes since the last measure may have used what was above
// the floor, or spaceCheckEvery after the last measure.
func (d *diskTier) roomy(n int64) bool {
	if d.minFree == 0 {
		return true
	}
	now := time.Now().UnixNano()
	last := d.spaceChecked.Load()
	if d.room.Add(-n) < 0 || now-last >= int64(spaceCheckEvery) {
		d.spaceChecked.Store(now)
		d.checkSpace()
	}
	return !d.low.Load()
}

// checkSpace measures the free space, and shrinks or restores the
// tier's budget. A failed measure changes nothing.
func (d *diskTier) checkSpace() {
	free, err := d.statfs(d.dir)
	if err != nil {
		return
	}
	d.room.Store(free - d.minFree)
	if deficit := d.minFree - free; deficit > 0 {
		keep := max(d.bytes.Load()-deficit, 0)
		d.index.SetMaximum(uint64(max(keep>>10, 1)))
		if d.low.CompareAndSwap(false, true) {
			d.log.Warn("disk cache shrinking: its filesystem is nearly full; serving from memory what does not fit",
				"dir", d.dir, "free_bytes", free, "min_free_bytes", d.minFree, "keep_bytes", keep)
		}
		return
	}
	if free >= d.minFree+d.minFree/8 && d.low.CompareAndSwap(true, false) {
		d.index.SetMaximum(d.maxWeight())
		d.log.Info("disk cache storing again: its filesystem has room", "dir", d.dir, "free_bytes", free)
	}
}

// maxWeight is the index's maximum weight for the whole budget, in KiB.
func (d *diskTier) maxWeight() uint64 { return uint64(max(1, d.budget>>10)) }
