package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// BackupSample is the state of backups as this node sees it at a scrape:
// its own WAL archiver (on a database member), the last base backup and
// restore test of the cluster, and the alarms raised.
type BackupSample struct {
	// Archiver is true on a node that archives WAL (a database member);
	// the Archive fields are meaningless without it.
	Archiver bool
	// LastArchivedAge is the time since the last WAL file was archived,
	// in seconds; negative when none was since the node started.
	LastArchivedAge                      float64
	Archived, ArchiveFailures, Conflicts int64 // since the node started
	// WALWaiting counts the segments PostgreSQL marked ready and not yet
	// archived, WALWaitingBytes their size; DiskFree is the space left on
	// pg_wal's file system. Each is negative when not known.
	WALWaiting      int
	WALWaitingBytes int64
	DiskFree        int64
	StoreReachable  bool

	// LastBackupAge is the time since the last successful base backup
	// finished, in seconds; negative when there is none. Its size
	// (data, as stored) and how long it took, in seconds.
	LastBackupAge, LastBackupDuration float64
	LastBackupBytes, LastBackupStored int64
	BackupOverdue                     bool

	// TestRan says a restore test result is known; the others describe it.
	TestRan        bool
	TestOK         bool
	TestAge        float64 // seconds since it started
	TestDuration   float64 // seconds
	TestRestoreLag float64 // seconds from its restored point to its start: what a restore would have lost
	// Alarms are the backup alarms by name, true while raised.
	Alarms map[string]bool
}

// WatchBackup exports the backup state sample returns at each scrape.
func (m *Metrics) WatchBackup(sample func() BackupSample) error {
	return m.register(&backupCollector{sample: sample})
}

var (
	walArchivedDesc     = desc("tandem_backup_wal_archived_total", "WAL files this node archived since it started.")
	walFailuresDesc     = desc("tandem_backup_wal_archive_failures_total", "WAL files this node failed to archive since it started (PostgreSQL retries them; pg_stat_archiver.failed_count rises with it).")
	walConflictsDesc    = desc("tandem_backup_wal_archive_conflicts_total", "WAL files refused because the archive holds a different file of the same name: two primaries on one timeline.")
	walLastAgeDesc      = desc("tandem_backup_wal_last_archived_age_seconds", "Seconds since this node last archived a WAL file.")
	walWaitingDesc      = desc("tandem_backup_wal_waiting_segments", "WAL segments PostgreSQL marked ready and not yet archived on this node.")
	walWaitingBytesDesc = desc("tandem_backup_wal_waiting_bytes", "Bytes of WAL waiting to be archived on this node.")
	walDiskFreeDesc     = desc("tandem_backup_wal_disk_free_bytes", "Free bytes on the file system of this node's pg_wal, which holds the WAL while the store is away.")
	storeReachableDesc  = desc("tandem_backup_store_reachable", "1 when the backup store answered this node's last check.")
	lastBackupAgeDesc   = desc("tandem_backup_last_base_backup_age_seconds", "Seconds since the cluster's last successful base backup finished.")
	lastBackupSizeDesc  = desc("tandem_backup_last_base_backup_bytes", "Size of the last successful base backup: the data read (kind=data) and what the store holds (kind=stored).", "kind")
	lastBackupTookDesc  = desc("tandem_backup_last_base_backup_duration_seconds", "How long the last successful base backup took.")
	backupOverdueDesc   = desc("tandem_backup_overdue", "1 when no base backup succeeded within its schedule plus an hour.")
	testSuccessDesc     = desc("tandem_backup_restore_test_success", "1 when the last restore test restored the newest backup and passed its checks.")
	testAgeDesc         = desc("tandem_backup_restore_test_age_seconds", "Seconds since the last restore test started.")
	testDurationDesc    = desc("tandem_backup_restore_test_duration_seconds", "How long the last restore test took: what a restore of the newest backup takes.")
	testLagDesc         = desc("tandem_backup_restore_test_restored_lag_seconds", "How far the last restore test's restored point was behind its start: what a restore then would have lost.")
	backupAlarmDesc     = desc("tandem_backup_alarm", "1 while the named backup alarm is raised on this node.", "alarm")
)

type backupCollector struct{ sample func() BackupSample }

func (c *backupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{walArchivedDesc, walFailuresDesc, walConflictsDesc, walLastAgeDesc, walWaitingDesc,
		walWaitingBytesDesc, walDiskFreeDesc, storeReachableDesc, lastBackupAgeDesc, lastBackupSizeDesc, lastBackupTookDesc,
		backupOverdueDesc, testSuccessDesc, testAgeDesc, testDurationDesc, testLagDesc, backupAlarmDesc} {
		ch <- d
	}
}

func (c *backupCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sample()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if s.Archiver {
		ch <- prometheus.MustNewConstMetric(walArchivedDesc, prometheus.CounterValue, float64(s.Archived))
		ch <- prometheus.MustNewConstMetric(walFailuresDesc, prometheus.CounterValue, float64(s.ArchiveFailures))
		ch <- prometheus.MustNewConstMetric(walConflictsDesc, prometheus.CounterValue, float64(s.Conflicts))
		if s.LastArchivedAge >= 0 {
			gauge(walLastAgeDesc, s.LastArchivedAge)
		}
		if s.WALWaiting >= 0 {
			gauge(walWaitingDesc, float64(s.WALWaiting))
			gauge(walWaitingBytesDesc, float64(s.WALWaitingBytes))
		}
		if s.DiskFree >= 0 {
			gauge(walDiskFreeDesc, float64(s.DiskFree))
		}
		gauge(storeReachableDesc, b2f(s.StoreReachable))
	}
	if s.LastBackupAge >= 0 {
		gauge(lastBackupAgeDesc, s.LastBackupAge)
		gauge(lastBackupSizeDesc, float64(s.LastBackupBytes), "data")
		gauge(lastBackupSizeDesc, float64(s.LastBackupStored), "stored")
		gauge(lastBackupTookDesc, s.LastBackupDuration)
	}
	gauge(backupOverdueDesc, b2f(s.BackupOverdue))
	if s.TestRan {
		gauge(testSuccessDesc, b2f(s.TestOK))
		gauge(testAgeDesc, s.TestAge)
		gauge(testDurationDesc, s.TestDuration)
		if s.TestOK {
			gauge(testLagDesc, s.TestRestoreLag)
		}
	}
	for name, on := range s.Alarms {
		gauge(backupAlarmDesc, b2f(on), name)
	}
}
