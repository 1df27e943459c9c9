package backuprun

import (
	"time"

	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// Sample is the backups for the metrics, read at each scrape; before the
// runtime is open, a sample of nothing known.
func (r *Runtime) Sample() telemetry.BackupSample {
	s := telemetry.BackupSample{LastArchivedAge: -1, LastBackupAge: -1, WALWaiting: -1, DiskFree: -1}
	if r.ready() != nil {
		return s
	}
	now := time.Now()
	st := r.mgr.Status()
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
	for _, a := range r.alarms.list() {
		s.Alarms[a.Name] = true
	}
	s.BackupOverdue = r.overdue(now)
	return s
}
