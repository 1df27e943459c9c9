package admin

import (
	"errors"
	"slices"

	"github.com/tandem-run/tandem/internal/backup"
)

// The backup package's types become the API's here, and its errors the
// API's kinds: the one place that knows both.

// BackupInfoOf describes a backup for the API.
func BackupInfoOf(b backup.Backup) BackupInfo {
	return BackupInfo{ID: b.ID, Source: b.Source, Timeline: b.Timeline, Started: b.StartTime, Finished: b.StopTime,
		Took: b.StopTime.Sub(b.StartTime), StartLSN: b.StartLSN.String(), StopLSN: b.StopLSN.String(), StartWAL: b.StartWAL,
		DataBytes: b.DataBytes, StoredBytes: b.StoredBytes, Encrypted: b.Encrypted}
}

// RestoreTestInfoOf describes a restore test for the API; nil for nil.
func RestoreTestInfoOf(r *backup.RestoreTestResult) *RestoreTestInfo {
	if r == nil {
		return nil
	}
	info := &RestoreTestInfo{ID: r.ID, Started: r.Started, Took: r.Took, OK: r.OK, Error: r.Err, BackupID: r.BackupID,
		Bytes: r.Bytes, LastCommit: r.LastCommit, Lag: r.Lag, Sanity: r.Sanity, Check: r.Check, Files: r.Files}
	if r.LSN != 0 {
		info.LSN = r.LSN.String()
	}
	return info
}

// ArchiveInfoOf describes an archiver for the API; nil for nil.
func ArchiveInfoOf(a *backup.ArchiveStatus) *ArchiveInfo {
	if a == nil {
		return nil
	}
	return &ArchiveInfo{LastArchived: a.LastArchived, LastArchivedAt: a.LastArchivedAt, Archived: a.Archived,
		Failures: a.Failures, FailingSince: a.FailingSince, LastFailure: a.LastFailure, Conflicts: a.Conflicts,
		WALWaiting: a.WALWaiting, WALWaitingBytes: a.WALWaitingBytes, DiskFree: a.DiskFree,
		StoreReachable: a.StoreReachable, StoreError: a.StoreError, CheckedAt: a.StoreCheckedAt}
}

// RetentionInfoOf describes a retention pass for the API; nil for nil.
func RetentionInfoOf(r *backup.RetentionResult) *RetentionInfo {
	if r == nil {
		return nil
	}
	return &RetentionInfo{At: r.At, Kept: len(r.Kept), Deleted: len(r.Deleted), DeletedBytes: r.DeletedBytes,
		WALDeleted: r.WALDeleted, OldestWAL: r.OldestWAL}
}

// BackupStatusOf is the part of a node's backup status the manager knows.
func BackupStatusOf(st backup.Status) BackupStatus {
	out := BackupStatus{Overdue: st.BackupOverdue, LastTest: RestoreTestInfoOf(st.LastTest), Archive: ArchiveInfoOf(st.Archive),
		Alarms: []BackupAlarm{}}
	if g := st.LastGood; g != nil && g.Backup != nil {
		info := BackupInfoOf(*g.Backup)
		out.LastBackup = &info
	}
	if l := st.LastBackup; l != nil && l.Err != "" {
		out.LastFailure, out.LastFailureAt = l.Err, l.Finished
	}
	return out
}

// WALSummaryOf sums up an archive's listing.
func WALSummaryOf(files []backup.WALFile) WALSummary {
	s := WALSummary{Timelines: []uint32{}}
	var first, last *backup.WALName
	for _, f := range files {
		s.Files++
		s.Bytes += f.Size
		n := f.Name
		switch n.Kind {
		case backup.WALHistory:
			s.Histories++
		case backup.WALPartial:
			s.Partials++
		case backup.WALSegment:
			if !slices.Contains(s.Timelines, n.Timeline) {
				s.Timelines = append(s.Timelines, n.Timeline)
			}
			if first == nil || n.Position() < first.Position() {
				first = &n
			}
			if last == nil || n.Position() > last.Position() || n.Position() == last.Position() && n.Timeline > last.Timeline {
				last = &n
			}
		}
	}
	if first != nil {
		s.First, s.Last = first.String(), last.String()
	}
	slices.Sort(s.Timelines)
	return s
}

// FileSetSumOf sums up a file set's snapshots (oldest first).
func FileSetSumOf(set string, snaps []backup.FileSnapshot) FileSetSum {
	s := FileSetSum{Set: set, Snapshots: len(snaps)}
	for _, sn := range snaps {
		s.StoredBytes += sn.StoredBytes
	}
	if n := len(snaps); n > 0 {
		last := snaps[n-1]
		s.Kind, s.Last, s.Files, s.Bytes, s.Copied = last.Kind, last.Time, last.Files, last.Bytes, last.Copied
		if last.Kind == "bucket" {
			s.LeftOut = last.Skipped
		}
	}
	return s
}

// FileSnapshotInfoOf describes a file set's snapshot for the API.
func FileSnapshotInfoOf(s backup.FileSnapshot) *FileSnapshotInfo {
	return &FileSnapshotInfo{Set: s.Set, ID: s.ID, Time: s.Time, Kind: s.Kind, Files: s.Files, Bytes: s.Bytes, Skipped: s.Skipped}
}

// BackupError gives an error of the backup package its API kind.
func BackupError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backup.ErrNoBackup):
		return Errorf(ErrNotFound, "%w", err)
	case errors.Is(err, backup.ErrDirNotEmpty):
		return Errorf(ErrBadRequest, "%w", err)
	case errors.Is(err, backup.ErrUnreachable), errors.Is(err, backup.ErrAccessDenied), errors.Is(err, backup.ErrNoBucket),
		errors.Is(err, backup.ErrNoPostgres):
		return Errorf(ErrUnavailable, "%w", err)
	}
	return err
}
