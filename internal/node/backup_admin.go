package node

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
	"github.com/tandem-run/tandem/internal/telemetry"
)

// nodeBackups is the admin API's backups: the node's backup part, which
// exists once the node runs.
type nodeBackups struct{ n *Node }

var _ admin.Backups = nodeBackups{}

func (d nodeBackups) part() (*backupPart, error) {
	if d.n.backup == nil {
		return nil, admin.Errorf(admin.ErrUnavailable, "the backups are not open yet")
	}
	return d.n.backup, nil
}

// Status implements admin.Backups.
func (d nodeBackups) Status() admin.BackupStatus {
	b, err := d.part()
	if err != nil {
		return admin.BackupStatus{Alarms: []admin.BackupAlarm{}}
	}
	st := b.mgr.Status()
	out := admin.BackupStatusOf(st)
	out.Store, out.Encrypted, out.Schedule = b.repo.Store().String(), b.cfg.EncryptionKey != "", b.cfg.Schedule
	if d.n.postgres() != nil {
		out.TestSchedule = b.cfg.RestoreTest.Schedule
	}
	if b.jobs != nil {
		for _, j := range b.jobs.Status() {
			switch j.Name {
			case backupJob:
				out.NextBackup = j.Next
			case restoreTestJob:
				out.NextTest = j.Next
			}
		}
	}
	out.Alarms = b.peers.alarms(d.n.st.Cluster.Node, b.alarms.list(), time.Now())
	out.Overdue = d.n.backupOverdue(time.Now())
	return out
}

// List implements admin.Backups: it reads the store, and refreshes the
// node's own view with it.
func (d nodeBackups) List(ctx context.Context) (admin.BackupList, error) {
	b, err := d.part()
	if err != nil {
		return admin.BackupList{}, err
	}
	list, bad, err := b.repo.Backups(ctx)
	if err != nil {
		return admin.BackupList{}, admin.BackupError(fmt.Errorf("list backups: %w", err))
	}
	wal, err := b.repo.ListWAL(ctx)
	if err != nil {
		return admin.BackupList{}, admin.BackupError(fmt.Errorf("list the WAL archive: %w", err))
	}
	st := d.Status()
	out := admin.BackupList{Node: d.n.st.Cluster.Node, Store: st.Store, Backups: []admin.BackupInfo{}, WAL: admin.WALSummaryOf(wal),
		Archive: st.Archive, Alarms: st.Alarms}
	for _, bk := range list {
		out.Backups = append(out.Backups, admin.BackupInfoOf(bk))
		out.StoredBytes += bk.StoredBytes
	}
	for _, e := range bad {
		out.Unreadable = append(out.Unreadable, e.Error())
	}
	out.StoredBytes += out.WAL.Bytes
	for _, set := range b.mgr.FileSets() {
		snaps, err := b.repo.FileSnapshots(ctx, set.Name)
		if err != nil {
			return admin.BackupList{}, admin.BackupError(fmt.Errorf("list file set %s: %w", set.Name, err))
		}
		sum := admin.FileSetSumOf(set.Name, snaps)
		out.Files = append(out.Files, sum)
		out.StoredBytes += sum.StoredBytes
	}
	b.refresh(ctx)
	ms := b.mgr.Status()
	out.LastTest, out.LastRetention = admin.RestoreTestInfoOf(ms.LastTest), admin.RetentionInfoOf(ms.LastRetention)
	out.Archivers = b.peers.archivers(d.n.st.Cluster.Node, out.Archive, d.n.members())
	return out, nil
}

// Backup implements admin.Backups: the backup job, run now on this node;
// it waits for a backup running elsewhere to end no more than for one
// running here (both are conflicts).
func (d nodeBackups) Backup(ctx context.Context) (admin.BackupRun, error) {
	b, err := d.part()
	if err != nil {
		return admin.BackupRun{}, err
	}
	if b.jobs == nil {
		return admin.BackupRun{}, admin.Errorf(admin.ErrUnavailable, "%v: ask another node", b.noJobs)
	}
	run, err := b.jobs.RunNow(ctx, backupJob)
	switch {
	case errors.Is(err, cron.ErrRunning), errors.Is(err, cron.ErrLocked):
		return admin.BackupRun{}, admin.Errorf(admin.ErrConflict, "a backup is running: %w", err)
	case err != nil:
		return admin.BackupRun{}, err
	}
	b.mu.Lock()
	last := b.lastRun
	b.mu.Unlock()
	if last == nil || last.Started.Before(run.Started.Add(-time.Second)) {
		// The run did not get to record itself: it could not start.
		return admin.BackupRun{Node: d.n.st.Cluster.Node, Started: run.Started, Errors: []string{run.Error}}, nil
	}
	return *last, nil
}

// Restore implements admin.Backups: a copy restored into req.Dir and
// recovered to the target, which never archives.
func (d nodeBackups) Restore(ctx context.Context, req admin.RestoreRequest) (admin.RestoreResult, error) {
	b, err := d.part()
	if err != nil {
		return admin.RestoreResult{}, err
	}
	if req.IntoBucket != "" {
		return d.restoreIntoBucket(ctx, b, req)
	}
	if !filepath.IsAbs(req.Dir) {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir %q: must be an absolute path on node %s", req.Dir, d.n.st.Cluster.Node)
	}
	if req.Files != "" {
		return d.restoreFiles(ctx, b, req)
	}
	if b.pg.BinDir == "" {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrUnavailable, "node %s has no PostgreSQL to restore with: ask a node that has", d.n.st.Cluster.Node)
	}
	if err := b.reachable(filepath.Dir(req.Dir)); err != nil {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir %s: %w", req.Dir, err)
	}
	res, err := b.mgr.RestoreCopy(ctx, backup.RestoreOptions{Dir: req.Dir, BackupID: req.Backup, Time: req.Time})
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: d.n.st.Cluster.Node, Dir: res.Dir, Backup: admin.BackupInfoOf(res.Backup), Target: res.Target,
		LSN: res.LSN.String(), LastCommit: res.LastCommit, Timeline: res.Timeline, Bytes: res.Bytes, Took: res.Took, Settings: res.Settings}, nil
}

// restoreFiles restores a snapshot of one of the app's file sets.
func (d nodeBackups) restoreFiles(ctx context.Context, b *backupPart, req admin.RestoreRequest) (admin.RestoreResult, error) {
	if !slices.ContainsFunc(b.mgr.FileSets(), func(s backup.FileSet) bool { return s.Name == req.Files }) {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "files %q: the stack has no such file set (backup.files, or %s<app> for an app's bucket of the storage section)",
			req.Files, backup.BucketSetPrefix)
	}
	if !req.Time.IsZero() {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "time: a file set restores a snapshot (its id, or the newest), not a point in time")
	}
	snap, err := b.mgr.RestoreFiles(ctx, req.Files, req.Backup, req.Dir)
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: d.n.st.Cluster.Node, Dir: req.Dir, Files: admin.FileSnapshotInfoOf(snap)}, nil
}

// restoreIntoBucket restores a snapshot of an app's bucket into a bucket
// of the storage's store.
func (d nodeBackups) restoreIntoBucket(ctx context.Context, b *backupPart, req admin.RestoreRequest) (admin.RestoreResult, error) {
	switch {
	case !strings.HasPrefix(req.Files, backup.BucketSetPrefix):
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "into_bucket: restores an app's bucket (files: %s<app>), not %q", backup.BucketSetPrefix, req.Files)
	case req.Dir != "":
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "dir: give a directory or into_bucket, not both")
	case !req.Time.IsZero():
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "time: a bucket restores a snapshot (its id, or the newest), not a point in time")
	case !slices.ContainsFunc(b.mgr.FileSets(), func(s backup.FileSet) bool { return s.Name == req.Files }):
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "files %q: the storage section gives no such app a bucket", req.Files)
	}
	into, err := d.n.storage.storage.StoreBucket(req.IntoBucket)
	if err != nil {
		return admin.RestoreResult{}, admin.Errorf(admin.ErrBadRequest, "into_bucket %q: %w", req.IntoBucket, err)
	}
	snap, err := b.mgr.RestoreBucket(ctx, req.Files, req.Backup, into)
	if err != nil {
		return admin.RestoreResult{}, admin.BackupError(err)
	}
	return admin.RestoreResult{Node: d.n.st.Cluster.Node, Bucket: into.String(), Files: admin.FileSnapshotInfoOf(snap)}, nil
}

// reachable checks that the postgres user may go through dir and every
// directory above it, which a restored data directory below needs.
func (b *backupPart) reachable(dir string) error {
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

// backupSample is the backups for the metrics.
func (n *Node) backupSample() telemetry.BackupSample {
	b := n.backup
	s := telemetry.BackupSample{LastArchivedAge: -1, LastBackupAge: -1, WALWaiting: -1, DiskFree: -1}
	if b == nil {
		return s
	}
	now := time.Now()
	st := b.mgr.Status()
	if a := st.Archive; a != nil {
		s.Archiver, s.Archived, s.ArchiveFailures, s.Conflicts = true, a.Archived, a.Failures, a.Conflicts
		s.WALWaiting, s.WALWaitingBytes, s.DiskFree, s.StoreReachable = a.WALWaiting, a.WALWaitingBytes, a.DiskFree, a.StoreReachable
		if !a.LastArchivedAt.IsZero() {
			s.LastArchivedAge = now.Sub(a.LastArchivedAt).Seconds()
		}
	}
	if g := st.LastGood; g != nil && g.Backup != nil {
		s.LastBackupAge, s.LastBackupDuration = now.Sub(g.Finished).Seconds(), g.Backup.StopTime.Sub(g.Backup.StartTime).Seconds()
		s.LastBackupBytes, s.LastBackupStored = g.Backup.DataBytes, g.Backup.StoredBytes
	}
	if t := st.LastTest; t != nil {
		s.TestRan, s.TestOK, s.TestAge, s.TestDuration, s.TestRestoreLag = true, t.OK, now.Sub(t.Started).Seconds(), t.Took.Seconds(), t.Lag.Seconds()
	}
	s.Alarms = map[string]bool{}
	for _, name := range backup.AlarmNames {
		s.Alarms[name] = false
	}
	for _, a := range b.alarms.list() {
		s.Alarms[a.Name] = true
	}
	s.BackupOverdue = n.backupOverdue(now)
	return s
}
