package backuprun

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/cron"
)

// The watch loop: how often it looks at the alarms, reads what other
// nodes did, and retries a cluster's first backup.
const (
	checkEvery   = 5 * time.Second
	refreshEvery = time.Minute
	// firstBackupRetry is the wait before the first base backup is tried
	// again, doubled after each try up to firstBackupRetryMax: a try that
	// found the database failing over, or the cluster without quorum, is
	// soon followed by another (until the first backup nothing can be
	// restored, and a failover under load cancels a try at once); one
	// that keeps failing does not load its source every minute.
	firstBackupRetry    = 15 * time.Second
	firstBackupRetryMax = time.Hour
	refreshTimeout      = 30 * time.Second
)

// watch keeps this node's view of the backups current and its alarms
// raised and cleared, and takes the cluster's first base backup as soon
// as the database runs: until then nothing can be restored. It returns
// when ctx ends, after the first backup it started has ended.
func (r *Runtime) watch(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastRefresh, lastFirst, lastPublish time.Time
	firstTries := 0
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		if time.Since(lastPublish) >= peersEvery {
			r.publish(ctx)
			lastPublish = time.Now()
		}
		if time.Since(lastRefresh) >= refreshEvery {
			r.refresh(ctx)
			lastRefresh = time.Now()
		}
		if r.needFirstBackup() && time.Since(lastFirst) >= firstBackupWait(firstTries) {
			lastFirst = time.Now()
			firstTries++
			wg.Go(func() { r.firstBackup(ctx) })
		}
		r.alarms.update(time.Now(), r.decideAlarms(time.Now()))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refresh reads what other nodes did into the manager's status.
func (r *Runtime) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	if err := r.mgr.Refresh(ctx); err != nil {
		r.log.Warn("backup status not refreshed from the store", "err", err)
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
func (r *Runtime) needFirstBackup() bool {
	db := r.o.Database()
	if r.jobs == nil || db == nil || r.mgr.Status().LastGood != nil {
		return false
	}
	st := db.Status()
	_, ok := st.BackupSource()
	return st.Leader != "" && ok
}

// firstBackup runs the backup job now unless the store holds a backup
// (another node may have taken one) or a backup runs somewhere.
func (r *Runtime) firstBackup(ctx context.Context) {
	list, _, err := r.repo.Backups(ctx)
	if err != nil || len(list) > 0 {
		r.refresh(ctx)
		return
	}
	r.log.Info("the store holds no base backup: taking the first one")
	r.first.Store(true)
	defer r.first.Store(false)
	_, err = r.jobs.RunNow(ctx, backupJob)
	switch {
	case errors.Is(err, cron.ErrRunning), errors.Is(err, cron.ErrLocked):
		r.log.Info("the first base backup runs elsewhere", "err", err)
	case err != nil:
		r.log.Warn("first base backup not taken", "err", err)
	}
}
