package backup

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Retention says which base backups to keep. A backup is kept if it is
// one of the newest KeepBackups, or if it is needed to restore to any
// moment within KeepFor: every backup newer than that, and the newest one
// older. The newest backup is always kept. Zero values keep everything
// their rule would.
type Retention struct {
	KeepBackups int
	KeepFor     time.Duration
}

// RetentionResult is what one retention pass did.
type RetentionResult struct {
	At              time.Time
	Kept            []string // backup ids
	Deleted         []string
	Incomplete      []string // leftovers of failed backups, deleted
	KeptBytes       int64    // stored bytes of the kept backups
	DeletedBytes    int64    // of the deleted backups
	WALKept         int      // WAL files
	WALKeptBytes    int64
	WALDeleted      int
	WALDeletedBytes int64
	OldestWAL       string // the first segment a kept backup needs; older ones are deleted
}

// ApplyRetention deletes the backups the rules no longer keep, then the
// WAL older than the first segment the oldest kept backup needs. Timeline
// history files are never deleted (they are small, and a restore across a
// timeline switch needs them). A backup is deleted description first, so
// an interrupted pass leaves no half backup that looks complete.
func (m *Manager) ApplyRetention(ctx context.Context) (*RetentionResult, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	res, err := m.applyRetention(ctx)
	if err != nil {
		m.log.Error("retention failed", "err", err)
		return res, fmt.Errorf("retention: %w", err)
	}
	m.log.Info("retention applied", "kept", len(res.Kept), "deleted", len(res.Deleted),
		"wal_deleted", res.WALDeleted, "wal_deleted_bytes", res.WALDeletedBytes)
	m.mu.Lock()
	m.lastRet = res
	m.mu.Unlock()
	return res, nil
}

func (m *Manager) applyRetention(ctx context.Context) (*RetentionResult, error) {
	res := &RetentionResult{At: m.opts.Now().UTC()}
	if err := m.sweepIncomplete(ctx, res); err != nil {
		return res, err
	}
	list, _, err := m.repo.Backups(ctx)
	if err != nil {
		return res, err
	}
	if len(list) == 0 {
		// No base backup: every WAL file may be needed by the first one.
		return res, m.pruneFiles(ctx, res)
	}
	stops := make([]time.Time, len(list))
	for i, b := range list {
		stops[i] = b.StopTime
	}
	keep := m.opts.Retention.keep(stops, res.At)
	oldest := -1
	for i, b := range list {
		if keep[i] {
			if oldest < 0 {
				oldest = i
			}
			res.Kept = append(res.Kept, b.ID)
			res.KeptBytes += b.StoredBytes
			continue
		}
		if err := m.deleteBackup(ctx, b); err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, b.ID)
		res.DeletedBytes += b.StoredBytes
	}
	first, err := ParseWALName(list[oldest].StartWAL)
	if err != nil {
		return res, fmt.Errorf("backup %s: %w", list[oldest].ID, err)
	}
	res.OldestWAL = first.String()
	if err := m.pruneFiles(ctx, res); err != nil {
		return res, err
	}
	wal, err := m.repo.ListWAL(ctx)
	if err != nil {
		return res, err
	}
	for _, w := range wal {
		if w.Name.Kind == WALHistory || w.Name.Position() >= first.Position() {
			res.WALKept++
			res.WALKeptBytes += w.Size
			continue
		}
		if err := m.repo.store.Delete(ctx, walKey(w.Name.String())); err != nil {
			return res, err
		}
		res.WALDeleted++
		res.WALDeletedBytes += w.Size
	}
	return res, nil
}

// keep marks the backups (by their stop times, oldest first) the rules
// keep at now.
func (r Retention) keep(list []time.Time, now time.Time) []bool {
	keep := make([]bool, len(list))
	keep[len(list)-1] = true
	if r.KeepBackups == 0 && r.KeepFor == 0 {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	for i := range list {
		if r.KeepBackups > 0 && i >= len(list)-r.KeepBackups {
			keep[i] = true
		}
	}
	if r.KeepFor > 0 {
		horizon := now.Add(-r.KeepFor)
		for i := len(list) - 1; i >= 0; i-- {
			keep[i] = true
			if !list[i].After(horizon) {
				break // the newest backup from before the horizon: restores to its first moments
			}
		}
	}
	return keep
}

// incompleteAge is how old the newest object of a backup without its
// description must be before retention takes it for the leftovers of a
// failed or interrupted backup rather than one in progress.
const incompleteAge = 24 * time.Hour

// sweepIncomplete deletes what failed or interrupted backups left: parts
// under backups/<id>/ with no backup.json, untouched for incompleteAge.
func (m *Manager) sweepIncomplete(ctx context.Context, res *RetentionResult) error {
	type dir struct {
		complete bool
		newest   time.Time
		bytes    int64
	}
	dirs := map[string]*dir{}
	err := m.repo.store.List(ctx, "backups/", func(o ObjectInfo) error {
		id, rest, ok := strings.Cut(strings.TrimPrefix(o.Key, "backups/"), "/")
		if !ok {
			return nil
		}
		d := dirs[id]
		if d == nil {
			d = &dir{}
			dirs[id] = d
		}
		d.complete = d.complete || rest == "backup.json"
		d.bytes += o.Size
		if o.Modified.After(d.newest) {
			d.newest = o.Modified
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, d := range dirs {
		if d.complete || res.At.Sub(d.newest) < incompleteAge {
			continue
		}
		if err := m.deletePrefix(ctx, backupPrefix(id), "backup.json"); err != nil {
			return err
		}
		res.Incomplete = append(res.Incomplete, id)
		res.DeletedBytes += d.bytes
	}
	return nil
}

// pruneFiles applies the rules to each file set's snapshots.
func (m *Manager) pruneFiles(ctx context.Context, res *RetentionResult) error {
	for _, set := range m.opts.Files {
		snaps, err := m.repo.FileSnapshots(ctx, set.Name)
		if err != nil {
			return err
		}
		if len(snaps) == 0 {
			continue
		}
		times := make([]time.Time, len(snaps))
		for i, s := range snaps {
			times[i] = s.Time
		}
		keep := m.opts.Retention.keep(times, res.At)
		if set.Bucket != nil {
			// Snapshots share objects: only those no kept one refers to go.
			var kept, drop []FileSnapshot
			for i, s := range snaps {
				if keep[i] {
					kept = append(kept, s)
				} else {
					drop = append(drop, s)
				}
			}
			if err := m.pruneBucketSet(ctx, set.Name, kept, drop, res); err != nil {
				return err
			}
			continue
		}
		for i, keep := range keep {
			if keep {
				res.KeptBytes += snaps[i].StoredBytes
				continue
			}
			if err := m.deletePrefix(ctx, filesPrefix(set.Name, snaps[i].ID), "snapshot.json"); err != nil {
				return err
			}
			res.Deleted = append(res.Deleted, set.Name+"/"+snaps[i].ID)
			res.DeletedBytes += snaps[i].StoredBytes
		}
	}
	return nil
}

func (m *Manager) deleteBackup(ctx context.Context, b Backup) error {
	return m.deletePrefix(ctx, backupPrefix(b.ID), "backup.json")
}

// deletePrefix deletes the objects under prefix, the one that marks them
// complete (first) first.
func (m *Manager) deletePrefix(ctx context.Context, prefix, first string) error {
	if err := m.repo.store.Delete(ctx, prefix+first); err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	var keys []string
	if err := m.repo.store.List(ctx, prefix, func(o ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	for _, k := range keys {
		if err := m.repo.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete %s: %w", prefix, err)
		}
	}
	return nil
}
