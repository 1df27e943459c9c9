package config

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// key32 is a valid encryption key: base64 of 32 bytes.
const key32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

const twoMembers = "database: { postgres: { members: [n1, n2] } }\n"

func TestBackupAbsent(t *testing.T) {
	for _, src := range []string{base, base + "backup:\n", base + "backup: ~\n"} {
		st, err := parse(t, src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if st.Backup != nil {
			t.Errorf("Parse(%q).Backup = %+v; want nil: nothing is backed up", src, st.Backup)
		}
	}
}

func TestBackupDefaults(t *testing.T) {
	st, err := parse(t, base+"backup: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &Backup{
		Local: filepath.Join(st.Cluster.DataDir, "backups"), Schedule: "0 3 * * *", ArchiveTimeout: Duration(45 * time.Second),
		Retention: BackupRetention{Backups: 7}, RestoreTest: BackupRestoreTest{Schedule: "0 5 * * *"},
	}
	if !reflect.DeepEqual(st.Backup, want) {
		t.Errorf("backup = %+v;\nwant %+v", st.Backup, want)
	}
}

func TestBackupFull(t *testing.T) {
	st, err := parse(t, base+twoMembers+`backup:
  s3:
    endpoint: http://127.0.0.1:7070
    bucket: b
    prefix: shop/
    path_style: true
    access_key: ak
    secret_key: ${DB_PASSWORD}
  encryption_key: `+key32+`
  schedule: "@every 6h"
  retention: { backups: 0, for: 14d }
  archive_timeout: 10s
  restore_test: { schedule: "30 5 * * *", query: "SELECT 1", check: [bin/check, -v] }
  files:
    uploads: { dir: uploads }
    wiki-db: { sqlite: /srv/wiki.db }
`)
	if err != nil {
		t.Fatal(err)
	}
	b := st.Backup
	s3 := BackupS3{Endpoint: "http://127.0.0.1:7070", Bucket: "b", Prefix: "shop/", Region: "us-east-1", PathStyle: true, AccessKey: "ak", SecretKey: "s3cret"}
	switch {
	case b.Local != "" || b.S3 == nil || *b.S3 != s3:
		t.Errorf("store: local %q, s3 %+v; want s3 %+v", b.Local, b.S3, s3)
	case b.Retention != BackupRetention{For: Duration(14 * 24 * time.Hour)}:
		t.Errorf("retention = %+v; want 14 days and no count", b.Retention)
	case b.ArchiveTimeout != Duration(10*time.Second) || b.Schedule != "@every 6h" || b.EncryptionKey != key32:
		t.Errorf("backup = %+v; want it as written", b)
	case !slices.Equal(b.RestoreTest.Check, []string{filepath.Join(st.Dir, "bin/check"), "-v"}):
		t.Errorf("restore_test.check = %q; want its program made absolute", b.RestoreTest.Check)
	case b.Files["uploads"].Dir != filepath.Join(st.Dir, "uploads") || b.Files["wiki-db"].SQLite != "/srv/wiki.db":
		t.Errorf("files = %+v %+v; want uploads under the stack's directory", b.Files["uploads"], b.Files["wiki-db"])
	}
}

// TestBackupLocalOnSeveralMembers: a local store on a database of more
// than one member would split the archive between the nodes.
func TestBackupLocalOnSeveralMembers(t *testing.T) {
	for _, tc := range []struct {
		src, path string
	}{
		{"backup: {}\n", "backup"},
		{"backup: { local: /srv/backups }\n", "backup.local"},
	} {
		_, err := parse(t, base+twoMembers+tc.src)
		want := tc.path + ": the local store "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "backup.s3") ||
			!strings.Contains(err.Error(), "local_shared: true") {
			t.Errorf("Parse(%q) = %v; want %q naming s3 and local_shared", tc.src, err, want)
		}
	}
	for _, src := range []string{
		twoMembers + "backup: { local: /srv/nfs/backups, local_shared: true }\n",
		"database: { postgres: { members: [n1] } }\nbackup: {}\n",
		twoMembers + "backup: { s3: { bucket: b } }\n",
	} {
		if _, err := parse(t, base+src); err != nil {
			t.Errorf("Parse(%q): %v; want it accepted", src, err)
		}
	}
}

func TestBackupProblems(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"backup: { local: /a, s3: { bucket: b } }", "backup.local: give either local or s3, not both"},
		{"backup: { local_shared: true, s3: { bucket: b } }", "backup.local_shared: applies to a local store only"},
		{"backup: { s3: { endpoint: http://h } }", "backup.s3.bucket: required"},
		{"backup: { s3: { bucket: b, endpoint: ftp://h } }", `backup.s3.endpoint: must be an http:// or https:// URL, got "ftp://h"`},
		{"backup: { s3: { bucket: b, prefix: /x/ } }", "backup.s3.prefix: must not start with / and must end with /"},
		{"backup: { s3: { bucket: b, prefix: x } }", "backup.s3.prefix: must not start with / and must end with /"},
		{"backup: { s3: { bucket: b, access_key: a } }", "backup.s3.secret_key: access_key and secret_key go together"},
		{"backup: { s3: { bucket: b, session_token: t } }", "backup.s3.session_token: needs access_key and secret_key"},
		{"backup: { s3: { bucket: b, ca_file: /nonexistent/ca.pem } }", "backup.s3.ca_file: cannot read /nonexistent/ca.pem"},
		{"backup: { s3: { bucket: b, bukket: c } }", "backup.s3.bukket: unknown field"},
		{"backup: { encryption_key: not-base64! }", "backup.encryption_key: not base64"},
		{"backup: { encryption_key: aGVsbG8= }", "backup.encryption_key: decodes to 5 bytes; want 32"},
		{"backup: { schedule: \"61 * * * *\" }", "backup.schedule: "},
		{"backup: { schedule: \"\" }", "backup.schedule: required"},
		{"backup: { restore_test: { schedule: \"@every 1ms\" } }", "backup.restore_test.schedule: "},
		{"backup: { retention: { backups: -1 } }", "backup.retention.backups: must be >= 0, got -1"},
		{"backup: { retention: { for: -1h } }", "backup.retention.for: must be >= 0"},
		{"backup: { retention: { for: 14 } }", "backup.retention.for: duration \"14\" has no unit"},
		{"backup: { archive_timeout: 500ms }", "backup.archive_timeout: must be between 1s and 1h, got 500ms"},
		{"backup: { archive_timeout: 2h }", "backup.archive_timeout: must be between 1s and 1h, got 2h"},
		{"backup: { restore_test: { check: [] } }", "backup.restore_test.check: must not be empty"},
		{"backup: { files: { Up: { dir: /u } } }", `backup.files.Up: file set name "Up" must be lower-case`},
		{"backup: { files: { up: { dir: /u, sqlite: /d.db } } }", "backup.files.up: give dir (a directory) or sqlite"},
		{"backup: { files: { up: {} } }", "backup.files.up: give dir (a directory) or sqlite"},
		{"backup: { files: { up: { directory: /u } } }", "backup.files.up.directory: unknown field"},
		{"backup: { schedul: x }", `backup.schedul: unknown field (did you mean "schedule"?)`},
	} {
		_, err := parse(t, base+tc.src+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want %q", tc.src, err, tc.want)
		}
	}
}

// TestBackupKeyNotInMessages: an encryption key that does not decode is
// reported without its value.
func TestBackupKeyNotInMessages(t *testing.T) {
	const secret = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0"
	_, err := parse(t, base+"backup: { encryption_key: "+secret+" }\n")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Parse = %v; want a problem that does not quote the key", err)
	}
}

func TestBootstrapFromBackup(t *testing.T) {
	st, err := parse(t, base+"database: { postgres: { members: [n1], bootstrap: { from_backup: latest, time: \"2026-12-06 05:54:03.25+01:00\" } } }\nbackup: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	bs := st.Database.Postgres.Bootstrap
	if want := time.Date(2026, 12, 6, 4, 54, 3, 250e6, time.UTC); bs.FromBackup != "latest" || !bs.Target.Equal(want) {
		t.Errorf("bootstrap = %+v; want latest until %s", bs, want)
	}
	for _, tc := range []struct {
		src, want string
	}{
		{"database: { postgres: { members: [n1], bootstrap: { from_backup: latest } } }", "database.postgres.bootstrap: needs a backup section"},
		{"database: { postgres: { members: [n1], bootstrap: {} } }\nbackup: {}", "database.postgres.bootstrap.from_backup: required"},
		{"database: { postgres: { members: [n1], bootstrap: { from_backup: newest } } }\nbackup: {}", `must be "latest" or a backup's id`},
		{"database: { postgres: { members: [n1], bootstrap: { from_backup: 20261206T030000Z, time: \"2026-12-06 04:00\" } } }\nbackup: {}",
			"database.postgres.bootstrap.time: time \"2026-12-06 04:00\" has no zone"},
	} {
		_, err := parse(t, base+tc.src+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want %q", tc.src, err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2026-12-06T04:54:03Z", want: utc("2026-12-06T04:54:03Z")},
		{in: "2026-12-06T04:54:03.123456Z", want: utc("2026-12-06T04:54:03.123456Z")},
		{in: "2026-12-06 05:54:03+01:00", want: utc("2026-12-06T04:54:03Z")},
		{in: " 2026-12-06T04:54Z ", want: utc("2026-12-06T04:54:00Z")},
		{in: "2026-12-06T04:54:03", err: "has no zone"},
		{in: "2026-12-06 04:54:03.5", err: "has no zone"},
		{in: "yesterday", err: "invalid time"},
		{in: "2026-13-06T04:54:03Z", err: "invalid time"},
		{in: "", err: "invalid time"},
	} {
		got, err := ParseTime(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTime(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || !got.Equal(tc.want)):
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-12-06T04:54:03Z", "2026-12-06 05:54:03.25+01:00", "2026-12-06T04:54", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			if !got.IsZero() || err.Error() == "" {
				t.Fatalf("ParseTime(%q) = %v, %v; want the zero time and a message", s, got, err)
			}
			return
		}
		// A time that parses is read back the same from its RFC 3339 form.
		again, err := ParseTime(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v; its RFC 3339 form reads back as %v, %v", s, got, again, err)
		}
	})
}

// TestBackupMirrorsBackupConfig holds this package's backup section to
// backup.Config, which the node builds from it: the same fields by their
// stack file names (local_shared is this package's own: the node checks
// it before it builds a store), and the same defaults.
func TestBackupMirrorsBackupConfig(t *testing.T) {
	mine := yamlLeaves("", reflect.TypeFor[Backup]())
	theirs := yamlLeaves("", reflect.TypeFor[backup.Config]())
	mine = slices.DeleteFunc(mine, func(s string) bool { return s == "local_shared" })
	if !slices.Equal(mine, theirs) {
		t.Errorf("config.Backup fields %q;\nbackup.Config fields %q", mine, theirs)
	}
	var c backup.Config
	c.SetDefaults("/data")
	if c.Schedule != DefaultBackupSchedule || c.RestoreTest.Schedule != DefaultRestoreTestSchedule ||
		c.ArchiveTimeout != time.Duration(DefaultArchiveTimeout) || c.Retention.Backups != DefaultKeepBackups ||
		c.Local != "/data/backups" || backup.EncryptionKeySize != encryptionKeySize {
		t.Errorf("backup.Config defaults %+v differ from this package's", c)
	}
	var s3 backup.Config
	s3.S3 = &backup.S3Config{}
	s3.SetDefaults("/data")
	if st, err := parse(t, base+"backup: { s3: { bucket: b } }\n"); err != nil || st.Backup.S3.Region != s3.S3.Region {
		t.Errorf("s3 region default %v (%v); backup.Config's %q", st, err, s3.S3.Region)
	}
}

// yamlLeaves lists the yaml paths of t's scalar fields, sorted.
func yamlLeaves(prefix string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
		if t.Kind() == reflect.Map {
			prefix += ".<name>"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
		return []string{strings.TrimPrefix(prefix, ".")}
	}
	var out []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, yamlLeaves(prefix+"."+tag, t.Field(i).Type)...)
	}
	slices.Sort(out)
	return out
}
