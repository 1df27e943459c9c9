package backuprun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cron"
)

// This file is the admin API's backups (admin.Backups), which answer
// once the runtime is open.

// ready fails until the runtime is open.
func (r *Runtime) ready() error {
	if !r.opened.Load() {
		return admin.Errorf(admin.ErrUnavailable, "the backups are not open yet")
	}
	return nil
}

// Status implements admin.Backups.
func (r *Runtime) Status() admin.BackupStatus {
	if r.ready() != nil {
		return admin.BackupStatus{Alarms: []admin.BackupAlarm{}}
	}
	out := admin.BackupStatusOf(r.mgr.Status())
	c := r.o.Config
	out.Store, out.Encrypted, out.Schedule = r.repo.Store().String(), c.EncryptionKey != "", c.Schedule
	if r.hasDatabase() {
		out.TestSchedule = c.RestoreTest.Schedule
	}
	if r.jobs != nil {
		for _, j := range r.jobs.Status() {
			switch j.Name {
			case backupJob:
				out.NextBackup = j.Next
			case restoreTestJob:
				out.NextTest = j.Next
			}
		}
	}
	out.Alarms = r.peers.alarms(r.o.Node, r.alarms.list(), time.Now())
	out.Overdue = r.overdue(time.Now())
	return out
}

// List implements admin.Backups: it reads the store, and refreshes the
// node's own view with it.
func (r *Runtime) List(ctx context.Context) (admin.BackupList, error) {
	if err := r.ready(); err != nil {
		return admin.BackupList{}, err
	}
	list, bad, err := r.repo.Backups(ctx)
	if err != nil {
		return admin.BackupList{}, admin.BackupError(fmt.Errorf("list backups: %w", err))
	}
	wal, err := r.repo.ListWAL(ctx)
	if err != nil {
		return admin.BackupList{}, admin.BackupError(fmt.Errorf("list the WAL archive: %w", err))
	}
	st := r.Status()
	out := admin.BackupList{Node: r.o.Node, Store: st.Store, Backups: []admin.BackupInfo{}, WAL: admin.WALSummaryOf(wal),
		Archive: st.Archive, Alarms: st.Alarms}
	for _, bk := range list {
		out.Backups = append(out.Backups, admin.BackupInfoOf(bk))
		out.StoredBytes += bk.StoredBytes
	}
	for _, e := range bad {
		out.Unreadable = append(out.Unreadable, e.Error())
	}
	out.StoredBytes += out.WAL.Bytes
	for _, set := range r.mgr.FileSets() {
		snaps, err := r.repo.FileSnapshots(ctx, set.Name)
		if err != nil {
			return admin.BackupList{}, admin.BackupError(fmt.Errorf("list file set %s: %w", set.Name, err))
		}
		sum := admin.FileSetSumOf(set.Name, snaps)
		out.Files = append(out.Files, sum)
		out.StoredBytes += sum.StoredBytes
	}
	r.refresh(ctx)
	ms := r.mgr.Status()
	out.LastTest, out.LastRetention = admin.RestoreTestInfoOf(ms.LastTest), admin.RetentionInfoOf(ms.LastRetention)
	out.Archivers = r.peers.archivers(r.o.Node, out.Archive, r.o.Members)
	return out, nil
}

// Backup implements admin.Backups: the backup job, run now on this node;
// it waits for a backup running elsewhere to end no more than for one
// running here (both are conflicts).
func (r *Runtime) Backup(ctx context.Context) (admin.BackupRun, error) {
	if err := r.ready(); err != nil {
		return admin.BackupRun{}, err
	}
	if r.jobs == nil {
		return admin.BackupRun{}, admin.Errorf(admin.ErrUnavailable, "%v: ask another node", r.noJobs)
	}
	run, err := r.jobs.RunNow(ctx, backupJob)
	switch {
	case errors.Is(err, cron.ErrRunning), errors.Is(err, cron.ErrLocked):
		return admin.BackupRun{}, admin.Errorf(admin.ErrConflict, "a backup is running: %w", err)
	case err != nil:
		return admin.BackupRun{}, err
	}
	r.mu.Lock()
	last := r.lastRun
	r.mu.Unlock()
	if last == nil || last.Started.Before(run.Started.Add(-time.Second)) {
		// The run did not get to record itself: it could not start.
		return admin.BackupRun{Node: r.o.Node, Started: run.Started, Errors: []string{run.Error}}, nil
	}
	return *last, nil
}

// Restore implements admin.Backups: a copy restored into req.Dir and
// recovered to the target, which never archives.
func (r *Runtime) Restore(ctx context.Context, req admin.RestoreRequest) (admin.RestoreResult, error) {
	if err := r.ready(); err != nil {
		return admin.RestoreResult{}, err
	}
	if req.IntoBucket != "" {
		return r.restoreIntoBucket(ctx, req)
	}
	if !filepath.IsAbs(req.Dir) {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir %q: must be an absolute path on node %s", req.Dir, r.o.Node)
	}
	if req.Files != "" {
		return r.restoreFiles(ctx, req)
	}
	if r.pg.BinDir == "" {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrUnavailable, "node %s has no PostgreSQL to restore with: ask a node that has", r.o.Node)
	}
	if err := reachable(filepath.Dir(req.Dir)); err != nil {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir %s: %w", req.Dir, err)
	}
	res, err := r.mgr.RestoreCopy(ctx, backup.RestoreOptions{Dir: req.Dir, BackupID: req.Backup, Time: req.Time})
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: r.o.Node, Dir: res.Dir, Backup: admin.BackupInfoOf(res.Backup), Target: res.Target,
		LSN: res.LSN.String(), LastCommit: res.LastCommit, Timeline: res.Timeline, Bytes: res.Bytes, Took: res.Took, Settings: res.Settings}, nil
}

// restoreFiles restores a snapshot of one of the app's file sets.
func (r *Runtime) restoreFiles(ctx context.Context, req admin.RestoreRequest) (admin.RestoreResult, error) {
	if !r.hasFileSet(req.Files) {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "files %q: the stack has no such file set (backup.files, or %s<app> for an app's bucket of the storage section)",
			req.Files, backup.BucketSetPrefix)
	}
	if !req.Time.IsZero() {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "time: a file set restores a snapshot (its id, or the newest), not a point in time")
	}
	snap, err := r.mgr.RestoreFiles(ctx, req.Files, req.Backup, req.Dir)
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: r.o.Node, Dir: req.Dir, Files: admin.FileSnapshotInfoOf(snap)}, nil
}

// restoreIntoBucket restores a snapshot of an app's bucket into a bucket
// of the storage's store.
func (r *Runtime) restoreIntoBucket(ctx context.Context, req admin.RestoreRequest) (admin.RestoreResult, error) {
	switch {
	case !strings.HasPrefix(req.Files, backup.BucketSetPrefix):
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "into_bucket: restores an app's bucket (files: %s<app>), not %q", backup.BucketSetPrefix, req.Files)
	case req.Dir != "":
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir: give a directory or into_bucket, not both")
	case !req.Time.IsZero():
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "time: a bucket restores a snapshot (its id, or the newest), not a point in time")
	case !r.hasFileSet(req.Files) || r.o.StoreBucket == nil:
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "files %q: the storage section gives no such app a bucket", req.Files)
	}
	into, err := r.o.StoreBucket(req.IntoBucket)
	if err != nil {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "into_bucket %q: %w", req.IntoBucket, err)
	}
	snap, err := r.mgr.RestoreBucket(ctx, req.Files, req.Backup, into)
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: r.o.Node, Bucket: into.String(), Files: admin.FileSnapshotInfoOf(snap)}, nil
}

// hasFileSet reports whether the backups hold the file set name.
func (r *Runtime) hasFileSet(name string) bool {
	return slices.ContainsFunc(r.mgr.FileSets(), func(s backup.FileSet) bool { return s.Name == name })
}

// reachable checks that the postgres user may go through dir and every
// directory above it, which a restored data directory below needs.
func reachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user (which runs the restored server) cannot go through %s (mode %v): chmod o+x it, or restore elsewhere", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
