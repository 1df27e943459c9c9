package backuprun

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cron"
)

// The backup jobs run on the cluster cron: each firing is claimed once
// across the cluster, among the nodes that have PostgreSQL's programs.
const (
	backupJob      = "backup"       // base backup, file sets, then retention
	restoreTestJob = "restore-test" // the newest backup restored and checked
	lockKeys       = "backup/"      // apart from the stack's own jobs' locks
	// jobTimeout bounds a backup or a restore test.
	jobTimeout = 12 * time.Hour
)

// newJobs builds the runner of the backup jobs.
func (r *Runtime) newJobs() (*cron.Runner, error) {
	var jobs []cron.Job
	add := func(name, spec string) error {
		sch, err := cron.Parse(spec)
		if err != nil {
			return fmt.Errorf("%s schedule: %w", name, err)
		}
		jobs = append(jobs, cron.Job{Name: name, Schedule: sch, Location: time.Local, Timeout: jobTimeout, Overlap: cron.OverlapSkip})
		return nil
	}
	if err := add(backupJob, r.o.Config.Schedule); err != nil {
		return nil, err
	}
	if r.hasDatabase() {
		if err := add(restoreTestJob, r.o.Config.RestoreTest.Schedule); err != nil {
			return nil, err
		}
	}
	return cron.New(cron.Options{
		Jobs: jobs,
		Exec: func(ctx context.Context, job string, output func(string)) (int, error) {
			if job == restoreTestJob {
				return r.runRestoreTest(ctx, output), nil
			}
			return r.runBackup(ctx, output), nil
		},
		Locker: locker{cl: r.o.Cluster, node: r.o.Node, prefix: lockKeys},
		Dir:    filepath.Join(r.dir, "jobs"),
		Logger: r.log,
	})
}

// runBackup is the backup job: a base backup of the database, the file
// sets, then retention when they succeeded. It returns the exit code: 1
// when anything failed.
func (r *Runtime) runBackup(ctx context.Context, output func(string)) int {
	if r.first.Load() {
		// The cluster's first backup, asked for when the store held none;
		// another node's may have ended since, before this run got the lock.
		if list, _, err := r.repo.Backups(ctx); err == nil && len(list) > 0 {
			output("the store holds a base backup already (" + list[len(list)-1].ID + "): the first backup is taken")
			r.refresh(ctx)
			return 0
		}
	}
	run := admin.BackupRun{Node: r.o.Node, Started: time.Now()}
	fail := func(err error) {
		run.Errors = append(run.Errors, err.Error())
		output("error: " + err.Error())
	}
	if r.hasDatabase() {
		if bk, err := r.mgr.RunBaseBackup(ctx); err != nil {
			fail(err)
		} else {
			info := admin.BackupInfoOf(*bk)
			run.Backup = &info
			output(fmt.Sprintf("base backup %s from %s: %d bytes of data, %d stored, in %s", bk.ID, bk.Source, bk.DataBytes, bk.StoredBytes, info.Took.Round(time.Millisecond)))
		}
	}
	if len(r.mgr.FileSets()) > 0 {
		snaps, err := r.mgr.RunFileBackup(ctx)
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
		ret, err := r.mgr.ApplyRetention(ctx)
		if err != nil {
			fail(err)
		} else {
			run.Retained = admin.RetentionInfoOf(ret)
			output(fmt.Sprintf("retention: %d backups kept, %d deleted, %d WAL files deleted", len(ret.Kept), len(ret.Deleted), ret.WALDeleted))
		}
	}
	r.refresh(ctx)
	run.Took, run.OK = time.Since(run.Started), len(run.Errors) == 0
	r.mu.Lock()
	r.lastRun = &run
	r.mu.Unlock()
	if !run.OK {
		return 1
	}
	return 0
}

// runRestoreTest is the restore test job. A cluster with no backup yet
// has nothing to test: that is the backup-overdue alarm's to say.
func (r *Runtime) runRestoreTest(ctx context.Context, output func(string)) int {
	defer r.refresh(ctx)
	if list, _, err := r.repo.Backups(ctx); err == nil && len(list) == 0 {
		output("no backup to test yet")
		return 0
	}
	res, err := r.mgr.RunRestoreTest(ctx)
	if err != nil {
		output("error: " + err.Error())
		return 1
	}
	output(fmt.Sprintf("restore test of backup %s passed in %s: restored to %s (%s behind), sanity %s",
		res.BackupID, res.Took.Round(time.Millisecond), res.LastCommit.Format(time.RFC3339), res.Lag.Round(time.Second), res.Sanity))
	return 0
}
