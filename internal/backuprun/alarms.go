package backuprun

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
)

// alarmSubject names the backups in alerts.
const alarmSubject = "backup"

// alarms holds the alarms raised and sends each change: an alert when
// one is raised, another when it clears.
type alarms struct {
	send func(at time.Time, subject, event, message string)
	log  *slog.Logger

	mu     sync.Mutex // guards active
	active map[string]admin.BackupAlarm
}

func newAlarms(send func(at time.Time, subject, event, message string), log *slog.Logger) *alarms {
	return &alarms{send: send, log: log, active: map[string]admin.BackupAlarm{}}
}

// update makes raised the active alarms and sends what changed.
func (a *alarms) update(now time.Time, raised map[string]string) {
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
func (a *alarms) list() []admin.BackupAlarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]admin.BackupAlarm, 0, len(a.active))
	for _, name := range slices.Sorted(maps.Keys(a.active)) {
		out = append(out, a.active[name])
	}
	return out
}

// decideAlarms decides the node's alarms now.
func (r *Runtime) decideAlarms(now time.Time) map[string]string {
	in := r.alarmInput(now)
	in.Speaker = r.o.Speaker == nil || r.o.Speaker()
	return backup.DecideAlarms(in)
}

// overdue reports whether no base backup succeeded within its schedule,
// as this node sees it (only one node raises the alarm).
func (r *Runtime) overdue(now time.Time) bool {
	in := r.alarmInput(now)
	in.Speaker = true
	_, overdue := backup.DecideAlarms(in)[backup.AlarmBackupOverdue]
	return overdue
}

func (r *Runtime) alarmInput(now time.Time) backup.AlarmInput {
	in := backup.AlarmInput{
		Now: now, Node: r.o.Node, Store: r.repo.Store().String(), Status: r.mgr.Status(),
		ArchiveTimeout: r.o.Config.ArchiveTimeout, BackupEvery: r.every,
		Since: r.since,
	}
	if r.hasDatabase() {
		in.TestEvery = r.testEvery // none without a database
	}
	return in
}
