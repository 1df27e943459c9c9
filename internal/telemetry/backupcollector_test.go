package telemetry

import (
	"strings"
	"testing"
)

// TestBackupExposition: a database member's archiver, the last base
// backup and restore test and the alarms, read at each scrape; what is not
// known is left out rather than exported as 0.
func TestBackupExposition(t *testing.T) {
	m := NewMetrics()
	sample := BackupSample{Archiver: true, LastArchivedAge: 12, Archived: 40, ArchiveFailures: 3, WALWaiting: 2,
		WALWaitingBytes: 32 << 20, DiskFree: -1, StoreReachable: false,
		LastBackupAge: 3600, LastBackupDuration: 4.5, LastBackupBytes: 1 << 30, LastBackupStored: 300 << 20,
		TestRan: true, TestOK: false, TestAge: 60, TestDuration: 20,
		Alarms: map[string]bool{"store-unreachable": true, "backup-overdue": false}}
	if err := m.WatchBackup(func() BackupSample { return sample }); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	for _, want := range []string{
		"# TYPE tandem_backup_wal_archived_total counter",
		"tandem_backup_wal_archived_total 40",
		"tandem_backup_wal_archive_failures_total 3",
		"tandem_backup_wal_last_archived_age_seconds 12",
		"tandem_backup_wal_waiting_segments 2",
		"tandem_backup_wal_waiting_bytes 3.3554432e+07",
		"tandem_backup_store_reachable 0",
		"tandem_backup_last_base_backup_age_seconds 3600",
		`tandem_backup_last_base_backup_bytes{kind="data"} 1.073741824e+09`,
		"tandem_backup_restore_test_success 0",
		`tandem_backup_alarm{alarm="store-unreachable"} 1`,
		`tandem_backup_alarm{alarm="backup-overdue"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, absent := range []string{"tandem_backup_wal_disk_free_bytes", "tandem_backup_restore_test_restored_lag_seconds"} {
		if strings.Contains(text, absent) {
			t.Errorf("/metrics has %s; want it left out while not known", absent)
		}
	}
	sample = BackupSample{LastArchivedAge: -1, LastBackupAge: -1, WALWaiting: -1, DiskFree: -1}
	text = scrape(t, m)
	if strings.Contains(text, "tandem_backup_wal_") || strings.Contains(text, "tandem_backup_last_base_backup") ||
		!strings.Contains(text, "tandem_backup_overdue 0\n") {
		t.Errorf("a node without an archiver or a backup: /metrics has\n%s", grepPrefix(text, "tandem_backup_"))
	}
}

func grepPrefix(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
