package node

import (
	"reflect"
	"testing"
	"time"

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
