package backup

import (
	"fmt"
	"strings"
	"time"
)

// The backup alarms. A node raises those about its own archiver (a
// database member's); one node (AlarmInput.Speaker) raises those about the
// cluster's backups.
const (
	AlarmStoreUnreachable = "store-unreachable"
	AlarmArchiveFailing   = "archive-failing"
	AlarmArchiveLag       = "archive-lag"
	AlarmArchiveConflict  = "archive-conflict"
	AlarmBackupOverdue    = "backup-overdue"
	AlarmTestFailed       = "restore-test-failed"
	AlarmTestOverdue      = "restore-test-overdue"
)

// AlarmNames are the alarms' names, in the order they are listed.
var AlarmNames = []string{AlarmStoreUnreachable, AlarmArchiveFailing, AlarmArchiveLag, AlarmArchiveConflict, AlarmBackupOverdue, AlarmTestFailed, AlarmTestOverdue}

// Thresholds of the alarms.
const (
	// archiveFailingAfter: PostgreSQL retries a failed archive_command
	// within seconds; a failure that lasts this long is no blip.
	archiveFailingAfter = time.Minute
	// archiveLagMargin is added to archive_timeout: a segment that waits
	// longer with nothing archived is stuck.
	archiveLagMargin = time.Minute
	// overdueMargin is added to a schedule's longest interval.
	overdueMargin = time.Hour
)

// AlarmInput is what the backup alarms are decided from.
type AlarmInput struct {
	Now         time.Time
	Node, Store string // this node; the store, as its String names it
	Status      Status
	// ArchiveTimeout is the members' archive_timeout.
	ArchiveTimeout time.Duration
	BackupEvery    time.Duration // the base backups' longest interval; 0: never overdue
	TestEvery      time.Duration // the restore tests'; 0: no restore tests
	// Since is when this node started: nothing is overdue before its
	// schedule has had a chance to run.
	Since time.Time
	// Speaker: this node raises the cluster's alarms (one node does, so
	// that one alert is sent, not one per node).
	Speaker bool
}

// DecideAlarms returns the alarms raised, by name, with their messages.
func DecideAlarms(in AlarmInput) map[string]string {
	out := map[string]string{}
	if a := in.Status.Archive; a != nil {
		archiverAlarms(in, a, out)
	}
	if !in.Speaker {
		return out
	}
	if every := in.BackupEvery; every > 0 {
		var last time.Time
		if g := in.Status.LastGood; g != nil {
			last = g.Finished
		}
		switch {
		case !last.IsZero() && in.Now.Sub(last) > every+overdueMargin:
			out[AlarmBackupOverdue] = fmt.Sprintf("no base backup succeeded since %s (%s ago; the schedule's longest interval is %s)",
				last.UTC().Format(time.RFC3339), RoundAge(in.Now.Sub(last)), every)
		case last.IsZero() && in.Now.Sub(in.Since) > every+overdueMargin:
			out[AlarmBackupOverdue] = fmt.Sprintf("no base backup in the store %s, %s after %s started", in.Store, RoundAge(in.Now.Sub(in.Since)), in.Node)
		}
		if l := in.Status.LastBackup; l != nil && l.Err != "" && alarm(out, AlarmBackupOverdue) {
			out[AlarmBackupOverdue] += "; the last attempt failed: " + l.Err
		}
	}
	if t := in.Status.LastTest; t != nil && !t.OK {
		out[AlarmTestFailed] = fmt.Sprintf("the restore test of %s failed: %s", t.Started.UTC().Format(time.RFC3339), t.Err)
	}
	if every := in.TestEvery; every > 0 && in.Status.LastGood != nil {
		ref := in.Since
		if t := in.Status.LastTest; t != nil && t.Started.After(ref) {
			ref = t.Started
		}
		if in.Now.Sub(ref) > every+overdueMargin {
			out[AlarmTestOverdue] = fmt.Sprintf("no restore test ran for %s (the schedule's longest interval is %s)", RoundAge(in.Now.Sub(ref)), every)
		}
	}
	return out
}

// archiverAlarms decides the alarms of this node's archiver.
func archiverAlarms(in AlarmInput, a *ArchiveStatus, out map[string]string) {
	waiting := walWaitingText(a)
	if !a.StoreReachable && !a.StoreCheckedAt.IsZero() {
		out[AlarmStoreUnreachable] = fmt.Sprintf("the backup store %s does not answer %s: %s; %s", in.Store, in.Node, a.StoreError, waiting)
	}
	if !a.FailingSince.IsZero() && in.Now.Sub(a.FailingSince) >= archiveFailingAfter {
		out[AlarmArchiveFailing] = fmt.Sprintf("WAL archiving on %s fails since %s (%d failures): %s; %s",
			in.Node, a.FailingSince.UTC().Format(time.RFC3339), a.Failures, a.LastFailure, waiting)
	}
	if a.Conflicts > 0 {
		out[AlarmArchiveConflict] = fmt.Sprintf("%d WAL files from %s were refused: the archive holds different files of the same names (two primaries on one timeline?): %s",
			a.Conflicts, in.Node, a.LastFailure)
	}
	last := a.LastArchivedAt
	if last.IsZero() {
		last = in.Since
	}
	if a.WALWaiting > 0 && in.Now.Sub(last) > in.ArchiveTimeout+archiveLagMargin && !alarm(out, AlarmArchiveFailing) && !alarm(out, AlarmStoreUnreachable) {
		out[AlarmArchiveLag] = fmt.Sprintf("nothing archived on %s for %s while WAL waits: %s", in.Node, RoundAge(in.Now.Sub(last)), waiting)
	}
}

func alarm(m map[string]string, name string) bool {
	_, ok := m[name]
	return ok
}

// walWaitingText says how much WAL waits and how much disk is left.
func walWaitingText(a *ArchiveStatus) string {
	var b strings.Builder
	switch {
	case a.WALWaiting < 0:
		b.WriteString("how much WAL waits is not known")
	default:
		fmt.Fprintf(&b, "%d WAL %s (%s) wait in pg_wal", a.WALWaiting, plural(a.WALWaiting, "segment", "segments"), byteSize(a.WALWaitingBytes))
	}
	if a.DiskFree >= 0 {
		fmt.Fprintf(&b, ", %s free on its disk; nothing is lost while it holds", byteSize(a.DiskFree))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// byteSize writes n bytes in the largest binary unit that keeps it >= 1.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// RoundAge rounds an age for a message: to the second, to the minute past
// an hour.
func RoundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
