package backuprun

import (
	"reflect"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
)

// TestBackupPeers: a node shows its own alarms and those the others
// published lately, each naming its node, and every member's archiver;
// a node that stopped publishing raises nothing any more.
func TestBackupPeers(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var p peers
	p.set(map[string]nodeRecord{
		"node-a": {Node: "node-a", At: now.Add(-10 * time.Second), Archive: &admin.ArchiveInfo{LastArchived: "A"},
			Alarms: []admin.BackupAlarm{{Name: backup.AlarmStoreUnreachable, Message: "down"}}},
		"node-b": {Node: "node-b", At: now.Add(-10 * time.Minute), Archive: &admin.ArchiveInfo{LastArchived: "B"},
			Alarms: []admin.BackupAlarm{{Name: backup.AlarmArchiveFailing, Message: "stale"}}},
		"node-c": {Node: "node-c", At: now, Alarms: []admin.BackupAlarm{{Name: backup.AlarmBackupOverdue, Message: "published by self"}}},
	})
	got := p.alarms("node-c", []admin.BackupAlarm{{Name: backup.AlarmTestFailed, Message: "own"}}, now)
	want := []admin.BackupAlarm{{Name: backup.AlarmStoreUnreachable, Node: "node-a", Message: "down"}, {Name: backup.AlarmTestFailed, Node: "node-c", Message: "own"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alarms = %+v; want %+v", got, want)
	}
	own := &admin.ArchiveInfo{LastArchived: "C"}
	arch := p.archivers("node-c", own, []string{"node-a", "node-b", "node-c", "node-d"})
	var names []string
	for _, a := range arch {
		names = append(names, a.Node+":"+a.LastArchived)
	}
	if want := []string{"node-a:A", "node-b:B", "node-c:C"}; !reflect.DeepEqual(names, want) {
		t.Errorf("archivers = %q; want %q (node-d never published)", names, want)
	}
}
