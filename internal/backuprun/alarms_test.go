package backuprun

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// TestBackupAlarmsSendChanges: an alert when an alarm is raised, one when
// it clears, none while it stays.
func TestBackupAlarmsSendChanges(t *testing.T) {
	type sent struct{ event, msg string }
	var got []sent
	a := newAlarms(func(_ time.Time, subject, event, msg string) {
		if subject != "backup" {
			t.Errorf("subject %q; want backup", subject)
		}
		got = append(got, sent{event, msg})
	}, slog.New(slog.DiscardHandler))
	t0 := time.Now()
	a.update(t0, map[string]string{backup.AlarmStoreUnreachable: "down"})
	a.update(t0.Add(5*time.Second), map[string]string{backup.AlarmStoreUnreachable: "still down"})
	if l := a.list(); len(l) != 1 || !l[0].Since.Equal(t0) || l[0].Message != "still down" {
		t.Errorf("active = %+v; want the alarm since its first raise, with the newest message", l)
	}
	a.update(t0.Add(40*time.Second), nil)
	want := []sent{{backup.AlarmStoreUnreachable, "down"}, {backup.AlarmStoreUnreachable + "-cleared", backup.AlarmStoreUnreachable + " cleared after 40s"}}
	if !reflect.DeepEqual(got, want) || len(a.list()) != 0 {
		t.Errorf("sent %q, active %+v; want %q and none", got, a.list(), want)
	}
}
