package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cron"
)

// The backup jobs run on the cluster cron: each firing is claimed once
// across the cluster, among the nodes that have PostgreSQL's programs.
const (
	backupJob      = "backup"       // base backup, file sets, then retention
	restoreTestJob = "restore-test" // the newest backup restored and checked
	backupLockKeys = "backup/"      // apart from the stack's own jobs' locks
	// backupJobTimeout bounds a backup or a restore test.
	backupJobTimeout = 12 * time.Hour
)

// The watch loop: how often it looks at the alarms, reads what other
// nodes did, and retries a cluster's first backup.
const (
	backupCheckEvery   = 5 * time.Second
	backupRefreshEvery = time.Minute
	// firstBackupRetry is the wait before the first base backup is tried
	// again, doubled after each try up to firstBackupRetryMax: a try that
	// found the database failing over, or the cluster without quorum, is
	// soon followed by another; one that keeps failing does not load the
	// primary's source every minute.
	firstBackupRetry    = time.Minute
	firstBackupRetryMax = time.Hour
	refreshTimeout      = 30 * time.Second
)

// newBackupJobs builds the runner of the backup jobs.
func (n *Node) newBackupJobs(b *backupPart) (*cron.Runner, error) {
	var jobs []cron.Job
	add := func(name, spec string) error {
		sch, err := cron.Parse(spec)
		if err != nil {
			return fmt.Errorf("%s schedule: %w", name, err)
		}
		jobs = append(jobs, cron.Job{Name: name, Schedule: sch, Location: time.Local, Timeout: backupJobTimeout, Overlap: cron.OverlapSkip})
		return nil
	}
	if err := add(backupJob, b.cfg.Schedule); err != nil {
		return nil, err
	}
	if n.postgres() != nil {
		if err := add(restoreTestJob, b.cfg.RestoreTest.Schedule); err != nil {
			return nil, err
		}
	}
	return cron.New(cron.Options{
		Jobs: jobs,
		Exec: func(ctx context.Context, job string, output func(string)) (int, error) {
			if job == restoreTestJob {
				return n.runRestoreTest(ctx, output), nil
			}
			return n.runBackup(ctx, output), nil
		},
		Locker: backupLocker{jobLocker{cl: n.cl, node: n.st.Cluster.Node}, backupLockKeys},
		Dir:    filepath.Join(b.dir, "jobs"),
		Logger: b.log,
	})
}

// backupLocker is the backup jobs' locker: its keys apart from the
// stack's jobs', and a run in progress holds its lock only while its node
// lives (an etcd session). The cron's own mark of a run outlives a crashed
// node for the job's whole timeout: no other node could take a base
// backup, nor run a restore test, for twelve hours.
type backupLocker struct {
	jobLocker
	prefix string
}

func (l backupLocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	if !strings.HasPrefix(key, cron.RunningKey) {
		return l.jobLocker.TryLock(ctx, l.prefix+key, ttl) // a firing: reserved for its window
	}
	lock, err := l.cl.TryLock(ctx, l.prefix+key, l.node)
	switch {
	case errors.Is(err, cluster.ErrLocked):
		return nil, fmt.Errorf("%w: %w", cron.ErrLocked, err)
	case err != nil:
		return nil, err
	}
	return lock.Unlock, nil
}

// runBackup is the backup job: a base backup of the database, the file
// sets, then retention when they succeeded. It returns the exit code: 1
// when anything failed.
func (n *Node) runBackup(ctx context.Context, output func(string)) int {
	b := n.backup
	run := admin.BackupRun{Node: n.st.Cluster.Node, Started: time.Now()}
	fail := func(err error) {
		run.Errors = append(run.Errors, err.Error())
		output("error: " + err.Error())
	}
	if n.postgres() != nil {
		if bk, err := b.mgr.RunBaseBackup(ctx); err != nil {
			fail(err)
		} else {
			info := admin.BackupInfoOf(*bk)
			run.Backup = &info
			output(fmt.Sprintf("base backup %s from %s: %d bytes of data, %d stored, in %s", bk.ID, bk.Source, bk.DataBytes, bk.StoredBytes, info.Took.Round(time.Millisecond)))
		}
	}
	if len(b.mgr.FileSets()) > 0 {
		snaps, err := b.mgr.RunFileBackup(ctx)
		for _, s := range snaps {
			run.Files = append(run.Files, admin.FileSetSumOf(s.Set, []backup.FileSnapshot{s}))
			output(fmt.Sprintf("file set %s (%s): %d files, %d bytes, %d bytes stored", s.Set, s.Kind, s.Files, s.Bytes, s.StoredBytes))
			if s.Kind == "bucket" {
				for _, o := range s.Skipped {
					output("file set " + s.Set + ": left out: " + o)
				}
			}
		}
		if err != nil {
			fail(err)
		}
	}
	if len(run.Errors) == 0 {
		ret, err := b.mgr.ApplyRetention(ctx)
		if err != nil {
			fail(err)
		} else {
			run.Retained = admin.RetentionInfoOf(ret)
			output(fmt.Sprintf("retention: %d backups kept, %d deleted, %d WAL files deleted", len(ret.Kept), len(ret.Deleted), ret.WALDeleted))
		}
	}
	b.refresh(ctx)
	run.Took, run.OK = time.Since(run.Started), len(run.Errors) == 0
	b.mu.Lock()
	b.lastRun = &run
	b.mu.Unlock()
	if !run.OK {
		return 1
	}
	return 0
}

// runRestoreTest is the restore test job. A cluster with no backup yet
// has nothing to test: that is the backup-overdue alarm's to say.
func (n *Node) runRestoreTest(ctx context.Context, output func(string)) int {
	b := n.backup
	defer b.refresh(ctx)
	if list, _, err := b.repo.Backups(ctx); err == nil && len(list) == 0 {
		output("no backup to test yet")
		return 0
	}
	res, err := b.mgr.RunRestoreTest(ctx)
	if err != nil {
		output("error: " + err.Error())
		return 1
	}
	output(fmt.Sprintf("restore test of backup %s passed in %s: restored to %s (%s behind), sanity %s",
		res.BackupID, res.Took.Round(time.Millisecond), res.LastCommit.Format(time.RFC3339), res.Lag.Round(time.Second), res.Sanity))
	return 0
}

// refresh reads what other nodes did into the manager's status.
func (b *backupPart) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	if err := b.mgr.Refresh(ctx); err != nil {
		b.log.Warn("backup status not refreshed from the store", "err", err)
	}
}

// watchBackups keeps this node's view of the backups current and its
// alarms raised and cleared, and takes the cluster's first base backup as
// soon as the database runs: until then nothing can be restored. It
// returns when ctx ends, after the first backup it started has ended.
func (n *Node) watchBackups(ctx context.Context) error {
	b := n.backup
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastRefresh, lastFirst, lastPublish time.Time
	firstTries := 0
	t := time.NewTicker(backupCheckEvery)
	defer t.Stop()
	for {
		if time.Since(lastPublish) >= peersEvery {
			n.publishBackupState(ctx)
			lastPublish = time.Now()
		}
		if time.Since(lastRefresh) >= backupRefreshEvery {
			b.refresh(ctx)
			lastRefresh = time.Now()
		}
		if n.needFirstBackup() && time.Since(lastFirst) >= firstBackupWait(firstTries) {
			lastFirst = time.Now()
			firstTries++
			wg.Go(func() { n.firstBackup(ctx) })
		}
		b.alarms.update(time.Now(), n.decideBackupAlarms(time.Now()))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// firstBackupWait is how long after the last of tries tries of the
// first base backup the next is due.
func firstBackupWait(tries int) time.Duration {
	if tries == 0 {
		return 0
	}
	return min(firstBackupRetry<<min(tries-1, 10), firstBackupRetryMax)
}

// needFirstBackup reports whether this node should try the cluster's
// first base backup: it runs the jobs, the database has a running
// primary, and no backup is known.
func (n *Node) needFirstBackup() bool {
	b := n.backup
	if b.jobs == nil || n.database == nil || b.mgr.Status().LastGood != nil {
		return false
	}
	st := n.database.db.Status()
	_, ok := st.BackupSource()
	return st.Leader != "" && ok
}

// firstBackup runs the backup job now unless the store holds a backup
// (another node may have taken one) or a backup runs somewhere.
func (n *Node) firstBackup(ctx context.Context) {
	b := n.backup
	list, _, err := b.repo.Backups(ctx)
	if err != nil || len(list) > 0 {
		b.refresh(ctx)
		return
	}
	b.log.Info("the store holds no base backup: taking the first one")
	_, err = b.jobs.RunNow(ctx, backupJob)
	switch {
	case errors.Is(err, cron.ErrRunning), errors.Is(err, cron.ErrLocked):
		b.log.Info("the first base backup runs elsewhere", "err", err)
	case err != nil:
		b.log.Warn("first base backup not taken", "err", err)
	}
}
