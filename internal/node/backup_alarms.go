package node

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/uptime"
)

// decideBackupAlarms decides the node's alarms now.
func (n *Node) decideBackupAlarms(now time.Time) map[string]string {
	in := n.alarmInput(now)
	in.Speaker = uptime.FirstOfView{Self: n.st.Cluster.Node, View: func() []string { return nodeNames(n.view.View()) }}.Leader()
	return backup.DecideAlarms(in)
}

// backupOverdue reports whether no base backup succeeded within its
// schedule, as this node sees it (only one node raises the alarm).
func (n *Node) backupOverdue(now time.Time) bool {
	in := n.alarmInput(now)
	in.Speaker = true
	_, overdue := backup.DecideAlarms(in)[backup.AlarmBackupOverdue]
	return overdue
}

func (n *Node) alarmInput(now time.Time) backup.AlarmInput {
	b := n.backup
	return backup.AlarmInput{
		Now: now, Node: n.st.Cluster.Node, Store: b.repo.Store().String(), Status: b.mgr.Status(),
		ArchiveTimeout: b.cfg.ArchiveTimeout, BackupEvery: b.every, TestEvery: n.restoreTestEvery(),
		Since: n.started,
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
			changes = append(changes, change{event: name + "-cleared", msg: fmt.Sprintf("%s cleared after %s", name, backup.RoundAge(now.Sub(a.active[name].Since))), cleared: true})
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
