package node

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/config"
)

// TestBackupConfigMapsTheSection: a section config accepted maps onto a
// backup.Config that the backup package accepts too, field for field.
func TestBackupConfigMapsTheSection(t *testing.T) {
	st, err := config.Parse("stack.yaml", []byte(`cluster: { node: n1, data_dir: /srv/tandem }
apps: { web: { command: [x] } }
database: { postgres: { members: [n1, n2] } }
backup:
  s3: { endpoint: "https://s3.example:9000", bucket: b, prefix: shop/, path_style: true, access_key: a, secret_key: s }
  encryption_key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
  schedule: "0 */6 * * *"
  retention: { backups: 3, for: 2d }
  archive_timeout: 30s
  restore_test: { schedule: "@daily", query: SELECT 1, check: [/bin/true] }
  files: { uploads: { dir: /srv/up }, db: { sqlite: /srv/w.db } }
`), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := backupConfig(st.Backup)
	if ps := c.Validate(); len(ps) > 0 {
		t.Fatalf("backup.Config.Validate() = %+v; want none for a section config accepted", ps)
	}
	want := backup.Config{
		S3:            &backup.S3Config{Endpoint: "https://s3.example:9000", Bucket: "b", Prefix: "shop/", Region: "us-east-1", PathStyle: true, AccessKey: "a", SecretKey: "s"},
		EncryptionKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		Schedule:      "0 */6 * * *", Retention: backup.RetentionConfig{Backups: 3, For: 48 * time.Hour}, ArchiveTimeout: 30 * time.Second,
		RestoreTest: backup.RestoreTestConfig{Schedule: "@daily", Query: "SELECT 1", Check: []string{"/bin/true"}},
		Files:       map[string]backup.FileConfig{"uploads": {Dir: "/srv/up"}, "db": {SQLite: "/srv/w.db"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("backupConfig = %+v;\nwant %+v", c, want)
	}
	s := c.PostgresSettings([]string{"/usr/bin/tandem"}, "/srv/tandem/backup/wal.sock")
	if s["archive_mode"] != "always" || s["archive_timeout"] != "30s" ||
		s["archive_command"] != "'/usr/bin/tandem' db wal-push %p %f --socket '/srv/tandem/backup/wal.sock'" {
		t.Errorf("PostgresSettings = %q", s)
	}
}

// TestBackupAlarmsSendChanges: an alert when an alarm is raised, one when
// it clears, none while it stays.
func TestBackupAlarmsSendChanges(t *testing.T) {
	type sent struct{ event, msg string }
	var got []sent
	a := &backupAlarms{send: func(_ time.Time, subject, event, msg string) {
		if subject != "backup" {
			t.Errorf("subject %q; want backup", subject)
		}
		got = append(got, sent{event, msg})
	}, log: slog.New(slog.DiscardHandler), active: map[string]admin.BackupAlarm{}}
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

// TestFirstBackupWait: the first base backup is tried at once, then a
// minute later, doubling up to an hour.
func TestFirstBackupWait(t *testing.T) {
	want := []time.Duration{0, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for tries, w := range want {
		if got := firstBackupWait(tries); got != w {
			t.Errorf("firstBackupWait(%d) = %s; want %s", tries, got, w)
		}
	}
	if got := firstBackupWait(1000); got != time.Hour {
		t.Errorf("firstBackupWait(1000) = %s; want an hour", got)
	}
}

// TestBackupPeers: a node shows its own alarms and those the others
// published lately, each naming its node, and every member's archiver;
// a node that stopped publishing raises nothing any more.
func TestBackupPeers(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var p backupPeers
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
