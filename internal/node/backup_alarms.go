package node

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/uptime"
)

// The backup alarms. A node raises those about its own archiver (a
// database member's); the first node of the cluster's view raises those
// about the cluster's backups, so that one alert is sent, not one per
// node.
const (
	alarmStoreUnreachable = "store-unreachable"
	alarmArchiveFailing   = "archive-failing"
	alarmArchiveLag       = "archive-lag"
	alarmArchiveConflict  = "archive-conflict"
	alarmBackupOverdue    = "backup-overdue"
	alarmTestFailed       = "restore-test-failed"
	alarmTestOverdue      = "restore-test-overdue"
)

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

// alarmInput is what the backup alarms are decided from.
type alarmInput struct {
	now            time.Time
	node, store    string
	st             backup.Status
	archiveTimeout time.Duration
	backupEvery    time.Duration // 0: never overdue
	testEvery      time.Duration // 0: no restore tests
	// since is when this node started: nothing is overdue before its
	// schedule has had a chance to run.
	since time.Time
	// speaker: this node raises the cluster's alarms.
	speaker bool
}

// decideAlarms returns the alarms raised, by name, with their messages.
func decideAlarms(in alarmInput) map[string]string {
	out := map[string]string{}
	if a := in.st.Archive; a != nil {
		archiverAlarms(in, a, out)
	}
	if !in.speaker {
		return out
	}
	if every := in.backupEvery; every > 0 {
		var last time.Time
		if g := in.st.LastGood; g != nil {
			last = g.Finished
		}
		switch {
		case !last.IsZero() && in.now.Sub(last) > every+overdueMargin:
			out[alarmBackupOverdue] = fmt.Sprintf("no base backup succeeded since %s (%s ago; the schedule's longest interval is %s)",
				last.UTC().Format(time.RFC3339), roundAge(in.now.Sub(last)), every)
		case last.IsZero() && in.now.Sub(in.since) > every+overdueMargin:
			out[alarmBackupOverdue] = fmt.Sprintf("no base backup in the store %s, %s after %s started", in.store, roundAge(in.now.Sub(in.since)), in.node)
		}
		if l := in.st.LastBackup; l != nil && l.Err != "" && alarm(out, alarmBackupOverdue) {
			out[alarmBackupOverdue] += "; the last attempt failed: " + l.Err
		}
	}
	if t := in.st.LastTest; t != nil && !t.OK {
		out[alarmTestFailed] = fmt.Sprintf("the restore test of %s failed: %s", t.Started.UTC().Format(time.RFC3339), t.Err)
	}
	if every := in.testEvery; every > 0 && in.st.LastGood != nil {
		ref := in.since
		if t := in.st.LastTest; t != nil && t.Started.After(ref) {
			ref = t.Started
		}
		if in.now.Sub(ref) > every+overdueMargin {
			out[alarmTestOverdue] = fmt.Sprintf("no restore test ran for %s (the schedule's longest interval is %s)", roundAge(in.now.Sub(ref)), every)
		}
	}
	return out
}

// archiverAlarms decides the alarms of this node's archiver.
func archiverAlarms(in alarmInput, a *backup.ArchiveStatus, out map[string]string) {
	waiting := walWaitingText(a)
	if !a.StoreReachable && !a.StoreCheckedAt.IsZero() {
		out[alarmStoreUnreachable] = fmt.Sprintf("the backup store %s does not answer %s: %s; %s", in.store, in.node, a.StoreError, waiting)
	}
	if !a.FailingSince.IsZero() && in.now.Sub(a.FailingSince) >= archiveFailingAfter {
		out[alarmArchiveFailing] = fmt.Sprintf("WAL archiving on %s fails since %s (%d failures): %s; %s",
			in.node, a.FailingSince.UTC().Format(time.RFC3339), a.Failures, a.LastFailure, waiting)
	}
	if a.Conflicts > 0 {
		out[alarmArchiveConflict] = fmt.Sprintf("%d WAL files from %s were refused: the archive holds different files of the same names (two primaries on one timeline?): %s",
			a.Conflicts, in.node, a.LastFailure)
	}
	last := a.LastArchivedAt
	if last.IsZero() {
		last = in.since
	}
	if a.WALWaiting > 0 && in.now.Sub(last) > in.archiveTimeout+archiveLagMargin && !alarm(out, alarmArchiveFailing) && !alarm(out, alarmStoreUnreachable) {
		out[alarmArchiveLag] = fmt.Sprintf("nothing archived on %s for %s while WAL waits: %s", in.node, roundAge(in.now.Sub(last)), waiting)
	}
}

func alarm(m map[string]string, name string) bool {
	_, ok := m[name]
	return ok
}

// walWaitingText says how much WAL waits and how much disk is left.
func walWaitingText(a *backup.ArchiveStatus) string {
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

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// decideBackupAlarms decides the node's alarms now.
func (n *Node) decideBackupAlarms(now time.Time) map[string]string {
	in := n.alarmInput(now)
	in.speaker = uptime.FirstOfView{Self: n.st.Cluster.Node, View: func() []string { return nodeNames(n.view.View()) }}.Leader()
	return decideAlarms(in)
}

// backupOverdue reports whether no base backup succeeded within its
// schedule, as this node sees it (only one node raises the alarm).
func (n *Node) backupOverdue(now time.Time) bool {
	in := n.alarmInput(now)
	in.speaker = true
	return alarm(decideAlarms(in), alarmBackupOverdue)
}

func (n *Node) alarmInput(now time.Time) alarmInput {
	b := n.backup
	return alarmInput{
		now: now, node: n.st.Cluster.Node, store: b.repo.Store().String(), st: b.mgr.Status(),
		archiveTimeout: b.cfg.ArchiveTimeout, backupEvery: b.every, testEvery: n.restoreTestEvery(),
		since: n.started,
	}
}

// restoreTestEvery is the restore tests' longest interval; 0 without a
// database, which has none.
func (n *Node) restoreTestEvery() time.Duration {
	if n.postgres() == nil {
		return 0
	}
	return n.backup.testEvery
}

// backupAlarms holds the alarms raised and sends each change: an alert
// when one is raised, another when it clears.
type backupAlarms struct {
	send func(at time.Time, subject, event, message string)
	log  *slog.Logger

	mu     sync.Mutex // guards active
	active map[string]admin.BackupAlarm
}

func newBackupAlarms(a *uptime.Alerter, log *slog.Logger) *backupAlarms {
	return &backupAlarms{send: a.Send, log: log, active: map[string]admin.BackupAlarm{}}
}

// alarmSubject names the backups in alerts.
const alarmSubject = "backup"

// update makes raised the active alarms and sends what changed.
func (a *backupAlarms) update(now time.Time, raised map[string]string) {
	type change struct {
		event, msg string
		cleared    bool
	}
	var changes []change
	a.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(raised)) {
		msg := raised[name]
		prev, ok := a.active[name]
		if !ok {
			prev.Since = now
			changes = append(changes, change{event: name, msg: msg})
		}
		a.active[name] = admin.BackupAlarm{Name: name, Since: prev.Since, Message: msg}
	}
	for _, name := range slices.Sorted(maps.Keys(a.active)) {
		if _, ok := raised[name]; !ok {
			changes = append(changes, change{event: name + "-cleared", msg: fmt.Sprintf("%s cleared after %s", name, roundAge(now.Sub(a.active[name].Since))), cleared: true})
			delete(a.active, name)
		}
	}
	a.mu.Unlock()
	for _, c := range changes {
		if c.cleared {
			a.log.Info("backup alarm cleared", "alarm", c.event, "message", c.msg)
		} else {
			a.log.Warn("backup alarm", "alarm", c.event, "message", c.msg)
		}
		a.send(now, alarmSubject, c.event, c.msg)
	}
}

// list returns the active alarms, by name.
func (a *backupAlarms) list() []admin.BackupAlarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]admin.BackupAlarm, 0, len(a.active))
	for _, name := range slices.Sorted(maps.Keys(a.active)) {
		out = append(out, a.active[name])
	}
	return out
}
