package backup

import (
	"strings"
	"testing"
	"time"
)

// TestBackupAlarms: each alarm raised from the state that calls for it,
// and the cluster's own only on the node that speaks for the cluster.
func TestBackupAlarms(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	healthy := ArchiveStatus{LastArchived: "000000010000000000000009", LastArchivedAt: t0.Add(-10 * time.Second),
		WALWaiting: 0, DiskFree: 10 << 30, StoreReachable: true, StoreCheckedAt: t0.Add(-5 * time.Second)}
	good := &BackupResult{Finished: t0.Add(-2 * time.Hour), Backup: &Backup{ID: "x"}}
	base := AlarmInput{Now: t0, Node: "n1", Store: "s3://b/", ArchiveTimeout: 45 * time.Second, BackupEvery: 24 * time.Hour,
		TestEvery: 24 * time.Hour, Since: t0.Add(-48 * time.Hour), Speaker: true,
		Status: Status{LastGood: good, LastTest: &RestoreTestResult{OK: true, Started: t0.Add(-time.Hour)}}}
	with := func(f func(in *AlarmInput)) AlarmInput {
		in := base
		a, g, test := healthy, *base.Status.LastGood, *base.Status.LastTest
		in.Status.Archive, in.Status.LastGood, in.Status.LastTest = &a, &g, &test
		f(&in)
		return in
	}
	for _, tc := range []struct {
		name string
		in   AlarmInput
		want map[string]string // alarm -> a part of its message
	}{
		{"healthy", with(func(*AlarmInput) {}), map[string]string{}},
		{"store down", with(func(in *AlarmInput) {
			in.Status.Archive.StoreReachable, in.Status.Archive.StoreError = false, "store unreachable: dial tcp: connection refused"
			in.Status.Archive.WALWaiting, in.Status.Archive.WALWaitingBytes = 3, 48<<20
			in.Status.Archive.FailingSince = t0.Add(-20 * time.Second)
		}), map[string]string{AlarmStoreUnreachable: "3 WAL segments (48.0 MiB) wait in pg_wal, 10.0 GiB free on its disk"}},
		{"failing for a minute", with(func(in *AlarmInput) {
			in.Status.Archive.FailingSince, in.Status.Archive.Failures, in.Status.Archive.LastFailure = t0.Add(-61*time.Second), 7, "store refused access"
			in.Status.Archive.WALWaiting = 2
		}), map[string]string{AlarmArchiveFailing: "(7 failures): store refused access; 2 WAL segments"}},
		{"stuck without failures", with(func(in *AlarmInput) {
			in.Status.Archive.LastArchivedAt, in.Status.Archive.WALWaiting = t0.Add(-2*time.Minute), 1
		}), map[string]string{AlarmArchiveLag: "nothing archived on n1 for 2m0s while WAL waits: 1 WAL segment"}},
		{"a segment archived a while ago but none waiting", with(func(in *AlarmInput) {
			in.Status.Archive.LastArchivedAt = t0.Add(-time.Hour)
		}), map[string]string{}},
		{"conflict", with(func(in *AlarmInput) { in.Status.Archive.Conflicts = 1 }), map[string]string{AlarmArchiveConflict: "two primaries"}},
		{"backup overdue", with(func(in *AlarmInput) {
			in.Status.LastGood.Finished = t0.Add(-26 * time.Hour)
			in.Status.LastBackup = &BackupResult{Err: "base backup: no running primary"}
		}), map[string]string{AlarmBackupOverdue: "the last attempt failed: base backup: no running primary"}},
		{"no backup yet, just started", with(func(in *AlarmInput) { in.Status.LastGood, in.Since = nil, t0.Add(-time.Hour) }), map[string]string{}},
		{"no backup for too long", with(func(in *AlarmInput) { in.Status.LastGood = nil }), map[string]string{AlarmBackupOverdue: "no base backup in the store s3://b/"}},
		{"restore test failed", with(func(in *AlarmInput) {
			in.Status.LastTest = &RestoreTestResult{Started: t0.Add(-time.Hour), Err: "object wal/X is corrupt"}
		}), map[string]string{AlarmTestFailed: "object wal/X is corrupt"}},
		{"restore test overdue", with(func(in *AlarmInput) { in.Status.LastTest.Started = t0.Add(-26 * time.Hour) }),
			map[string]string{AlarmTestOverdue: "no restore test ran for 26h0m0s"}},
		{"the cluster's alarms are another node's to raise", with(func(in *AlarmInput) {
			in.Speaker, in.Status.LastGood, in.Status.LastTest.OK = false, nil, false
		}), map[string]string{}},
	} {
		got := DecideAlarms(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("%s: alarms %q; want %q", tc.name, got, tc.want)
			continue
		}
		for name, part := range tc.want {
			if !strings.Contains(got[name], part) {
				t.Errorf("%s: alarm %s = %q; want it to say %q", tc.name, name, got[name], part)
			}
		}
	}
}
