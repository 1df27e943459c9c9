package httpcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// diskTier keeps object files under dir/objects, indexed in memory by
// primary key. The index is rebuilt from the files' trailers on start,
// so that a restart keeps the cache. Any write error turns the tier off
// (one log line); the cache then runs from memory until a probe in Run
// finds the disk usable again. Read errors are misses. Below minFree
// bytes free on its filesystem, the tier stores nothing new and shrinks
// (see diskspace.go).
type diskTier struct {
	dir     string
	budget  int64
	minFree int64 // 0: no floor
	log     *slog.Logger
	index   *otter.Cache[string, *diskResource]
	failed  atomic.Bool
	seq     atomic.Uint64 // makes file names unique
	bytes   atomic.Int64  // bytes in object files
	evicts  *atomic.Uint64

	statfs       func(dir string) (int64, error) // bytes available under dir
	low          atomic.Bool                     // below minFree: store nothing new
	room         atomic.Int64                    // bytes above minFree at the last measure, less those written since
	spaceChecked atomic.Int64                    // unix nanoseconds of the last measure
}

// diskResource lists the object files of one primary key; immutable.
type diskResource struct {
	variants []*diskVariant
}

// diskVariant is one object file; the index keeps what selecting and
// purging need, the rest is read from the file on a hit.
type diskVariant struct {
	path     string
	size     int64 // whole file
	vary     []string
	varyVals []string
	tags     []string
	gen      atomic.Uint64
}

func (v *diskVariant) matches(e *entry) bool {
	return slices.Equal(v.vary, e.vary) && slices.Equal(v.varyVals, e.varyVals)
}

// diskError marks an error of the disk tier's storage, as opposed to
// one of the network or of a client.
type diskError struct {
	op  string
	err error
}

func (e *diskError) Error() string { return e.op + ": " + e.err.Error() }
func (e *diskError) Unwrap() error { return e.err }

// openDisk opens (creating if needed) the tier at o.Path and rebuilds the
// index, telling index the key and tags of every stored object so that
// purges by tag reach them before they are first read. It returns the
// highest purge generation found in the files.
func openDisk(o DiskOptions, log *slog.Logger, evicts *atomic.Uint64, exec func(func()), index func(key string, tags []string)) (*diskTier, uint64, error) {
	d := &diskTier{dir: o.Path, budget: o.Size, minFree: o.MinFree, log: log, evicts: evicts, statfs: statfsFree}
	switch {
	case d.minFree == 0:
		d.minFree = DefaultDiskMinFree
	case d.minFree < 0:
		d.minFree = 0
	}
	// File names must not repeat those of an earlier run.
	d.seq.Store(uint64(time.Now().UnixNano()))
	for _, sub := range []string{"objects", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return nil, 0, fmt.Errorf("open disk cache: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(d.dir, "tmp")); err != nil {
		return nil, 0, fmt.Errorf("open disk cache: clean tmp: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "tmp"), 0o755); err != nil {
		return nil, 0, fmt.Errorf("open disk cache: %w", err)
	}
	idx, err := otter.New(&otter.Options[string, *diskResource]{
		MaximumWeight: d.maxWeight(),
		Weigher: func(_ string, r *diskResource) uint32 {
			var n int64
			for _, v := range r.variants {
				n += v.size
			}
			return uint32(min(n>>10+1, 1<<32-1))
		},
		OnDeletion: d.onDeletion,
		Executor:   exec,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("open disk cache: %w", err)
	}
	d.index = idx
	gen, err := d.rebuild(index)
	if err != nil {
		return nil, 0, fmt.Errorf("open disk cache: %w", err)
	}
	return d, gen, nil
}

func (d *diskTier) onDeletion(ev otter.DeletionEvent[string, *diskResource]) {
	if ev.Cause == otter.CauseReplacement {
		return // the writer removes the files it replaced
	}
	if ev.WasEvicted() {
		d.evicts.Add(uint64(len(ev.Value.variants)))
	}
	for _, v := range ev.Value.variants {
		d.remove(v)
	}
}

func (d *diskTier) remove(v *diskVariant) {
	if err := os.Remove(v.path); err == nil || errors.Is(err, fs.ErrNotExist) {
		d.bytes.Add(-v.size)
	}
}

// rebuild indexes the object files; unreadable ones are deleted, and of
// several files for one variant the newest wins.
func (d *diskTier) rebuild(index func(key string, tags []string)) (uint64, error) {
	var maxGen uint64
	root := filepath.Join(d.dir, "objects")
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		m, size, err := statObject(path)
		if err != nil {
			os.Remove(path)
			return nil
		}
		maxGen = max(maxGen, m.Gen)
		v := &diskVariant{path: path, size: size, vary: m.Vary, varyVals: m.VaryVals, tags: m.Tags}
		v.gen.Store(m.Gen)
		d.bytes.Add(size)
		d.insertVariant(m.Key, v)
		if len(m.Tags) > 0 {
			index(m.Key, m.Tags)
		}
		return nil
	})
	return maxGen, err
}

func statObject(path string) (*diskMeta, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	m, err := readMeta(f, st.Size())
	return m, st.Size(), err
}

// usable reports whether writes may be attempted: the tier has not
// failed, and its filesystem had room when last measured.
func (d *diskTier) usable() bool { return d != nil && !d.failed.Load() && !d.low.Load() }

// fail turns the tier off after a storage error, logging once.
func (d *diskTier) fail(err error) {
	if d.failed.CompareAndSwap(false, true) {
		d.log.Warn("disk cache disabled, serving from memory only", "dir", d.dir, "err", err)
	}
}

// probe re-enables a failed tier when a synced write works again.
func (d *diskTier) probe() {
	if !d.failed.Load() {
		return
	}
	p := filepath.Join(d.dir, "tmp", "probe")
	if err := writeFileAtomic(p, []byte("ok")); err != nil {
		return
	}
	os.Remove(p)
	if d.failed.CompareAndSwap(true, false) {
		d.log.Info("disk cache enabled again", "dir", d.dir)
	}
}

// fits reports whether an object of n bytes may go to disk at all.
func (d *diskTier) fits(n int64) bool { return n <= d.budget/4 }

// create opens a temp file for an object being written.
func (d *diskTier) create() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(d.dir, "tmp"), "obj-*")
	if err != nil {
		return nil, &diskError{op: "create object file", err: err}
	}
	return f, nil
}

// commit writes e's trailer after the body already in f, syncs and
// renames the file into place, and indexes it. f stays open.
func (d *diskTier) commit(f *os.File, e *entry) (*diskVariant, error) {
	m := metaOf(e)
	tr, err := encodeTrailer(&m)
	if err != nil {
		return nil, err // not a storage failure
	}
	if _, err := f.Seek(0, 2); err != nil {
		return nil, &diskError{op: "seek object file", err: err}
	}
	if _, err := f.Write(tr); err != nil {
		return nil, &diskError{op: "write object trailer", err: err}
	}
	if err := f.Sync(); err != nil {
		return nil, &diskError{op: "sync object file", err: err}
	}
	sum := sha256.Sum256([]byte(e.key + "\x00" + fmt.Sprint(e.varyVals)))
	name := hex.EncodeToString(sum[:16])
	dir := filepath.Join(d.dir, "objects", name[:2])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &diskError{op: "create object dir", err: err}
	}
	path := filepath.Join(dir, name+"-"+strconv.FormatUint(d.seq.Add(1), 36))
	if err := os.Rename(f.Name(), path); err != nil {
		return nil, &diskError{op: "rename object file", err: err}
	}
	if err := syncDir(dir); err != nil {
		return nil, &diskError{op: "sync object dir", err: err}
	}
	v := &diskVariant{path: path, size: e.body.size + int64(len(tr)), vary: e.vary, varyVals: e.varyVals, tags: e.tags}
	v.gen.Store(e.gen.Load())
	d.bytes.Add(v.size)
	d.insertVariant(e.key, v)
	return v, nil
}

// writeWhole writes an in-memory entry as a new object file.
func (d *diskTier) writeWhole(e *entry) error {
	f, err := d.create()
	if err != nil {
		return err
	}
	defer f.Close()
	for _, c := range e.body.chunks {
		if _, err := f.Write(c); err != nil {
			os.Remove(f.Name())
			return &diskError{op: "write object file", err: err}
		}
	}
	if _, err := d.commit(f, e); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// insertVariant indexes v under key, replacing the same variant; the
// file of a replaced variant is removed.
func (d *diskTier) insertVariant(key string, v *diskVariant) {
	var replaced []*diskVariant
	d.index.Compute(key, func(old *diskResource, found bool) (*diskResource, otter.ComputeOp) {
		replaced = replaced[:0]
		n := &diskResource{variants: []*diskVariant{v}}
		if found {
			for _, o := range old.variants {
				if slices.Equal(o.vary, v.vary) && slices.Equal(o.varyVals, v.varyVals) || len(n.variants) >= maxVariants {
					replaced = append(replaced, o)
					continue
				}
				n.variants = append(n.variants, o)
			}
		}
		return n, otter.WriteOp
	})
	for _, o := range replaced {
		d.remove(o)
	}
}

// removeVariants drops the variants of key that drop selects.
func (d *diskTier) removeVariants(key string, drop func(*diskVariant) bool) int {
	var removed []*diskVariant
	count := 0
	d.index.ComputeIfPresent(key, func(old *diskResource) (*diskResource, otter.ComputeOp) {
		removed = removed[:0]
		n := &diskResource{}
		for _, o := range old.variants {
			if drop(o) {
				removed = append(removed, o)
			} else {
				n.variants = append(n.variants, o)
			}
		}
		count = len(removed)
		switch {
		case len(removed) == 0:
			return old, otter.CancelOp
		case len(n.variants) == 0:
			removed = nil // onDeletion removes the files
			return nil, otter.InvalidateOp
		}
		return n, otter.WriteOp
	})
	for _, o := range removed {
		d.remove(o)
	}
	return count
}

// load reads the object file of v into an entry; bodies up to memMax
// bytes are read into memory, larger ones stay in the file.
func (d *diskTier) load(v *diskVariant, memMax int64) (*entry, error) {
	f, err := os.Open(v.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := readMeta(f, v.size)
	if err != nil {
		return nil, err
	}
	b := newBody(nil, v.path, m.BodySize)
	if m.BodySize <= memMax {
		buf := make([]byte, m.BodySize)
		if _, err := f.ReadAt(buf, 0); err != nil && m.BodySize > 0 {
			return nil, err
		}
		b = newBody([][]byte{buf}, "", m.BodySize)
	}
	e := m.entry(b)
	e.gen.Store(v.gen.Load())
	return e, nil
}
