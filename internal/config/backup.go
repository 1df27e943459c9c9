package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/cron"
)

// Backup is the stack's backups: the WAL archive and base backups of the
// stack's PostgreSQL, scheduled restore tests, retention, and the app's
// file sets, all in one store. Stack.Backup is nil when the stack file has
// no backup section: then nothing is archived or backed up.
//
// Its fields mirror backup.Config (internal/backup), which the node builds
// from it; this package keeps its own types because its decoder reads
// durations with days and must not import the object-store clients. A test
// holds the two to the same fields, defaults and rules.
type Backup struct {
	// Local is the directory of the local store, absolute; the default
	// when S3 is nil: <cluster.data_dir>/backups.
	Local string `yaml:"local"`
	// LocalShared says that Local is one file system every database member
	// mounts (NFS, CephFS...). Without it a local store is refused for a
	// database of more than one member: each member would archive its WAL
	// on its own disk, and after a failover no node holds it all.
	LocalShared bool `yaml:"local_shared"`
	// S3 is an S3-compatible store; nil for the local one.
	S3 *BackupS3 `yaml:"s3"`
	// EncryptionKey, if set, encrypts every object on the client: base64
	// of 32 bytes (openssl rand -base64 32). Use ${VAR}.
	EncryptionKey string `yaml:"encryption_key"`
	// Schedule of base backups and file sets (cron syntax), once per
	// cluster; default DefaultBackupSchedule.
	Schedule string `yaml:"schedule"`
	// Retention says which backups are kept.
	Retention BackupRetention `yaml:"retention"`
	// ArchiveTimeout forces a WAL segment switch at least this often when
	// anything was written: 1s to 1h, default 45s (RPO <= 60 s).
	ArchiveTimeout Duration `yaml:"archive_timeout"`
	// RestoreTest is the scheduled proof that the newest backup restores.
	RestoreTest BackupRestoreTest `yaml:"restore_test"`
	// Files are the app's file sets by name; nil when none.
	Files map[string]*BackupFileSet `yaml:"files"`
}

// BackupS3 is an S3-compatible store: AWS S3, Garage, Ceph RGW, SeaweedFS,
// versitygw...
type BackupS3 struct {
	// Endpoint is the store's http:// or https:// URL; "" for AWS S3 in
	// Region.
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"` // required
	// Prefix is put before every key ("shop/"): empty, or ending with "/"
	// and not starting with one.
	Prefix string `yaml:"prefix"`
	Region string `yaml:"region"` // default "us-east-1"
	// PathStyle puts the bucket in the path rather than the host name, as
	// most self-hosted stores want.
	PathStyle bool `yaml:"path_style"`
	// CAFile is a PEM bundle trusted for the endpoint's certificate,
	// absolute; "" trusts the system's roots.
	CAFile       string `yaml:"ca_file"`
	AccessKey    string `yaml:"access_key"`
	SecretKey    string `yaml:"secret_key"`
	SessionToken string `yaml:"session_token"`
}

// BackupRetention says which base backups are kept: one of the newest
// Backups, or one needed to restore to any moment within For. The newest
// is always kept, and the WAL the kept ones need.
type BackupRetention struct {
	Backups int      `yaml:"backups"` // >= 0; default DefaultKeepBackups
	For     Duration `yaml:"for"`     // >= 0; default 0 (the count decides)
}

// BackupRestoreTest is the scheduled restore test.
type BackupRestoreTest struct {
	// Schedule (cron syntax), once per cluster; default
	// DefaultRestoreTestSchedule.
	Schedule string `yaml:"schedule"`
	// Query is run on the restored copy and must return a row; ""
	// counts pg_class.
	Query string `yaml:"query"`
	// Check is the app's own check of the copy, run with DATABASE_URL
	// pointing at it; it must exit 0. Nil when none.
	Check []string `yaml:"check"`
}

// BackupFileSet is a directory of the app's files, or a SQLite database
// (copied with VACUUM INTO, never raw), stored with the backups.
type BackupFileSet struct {
	Dir    string `yaml:"dir"`    // absolute; or
	SQLite string `yaml:"sqlite"` // absolute
}

// PostgresBootstrap makes the cluster's first member restore a backup
// instead of creating an empty database: disaster recovery into a new
// cluster. It matters only while the cluster has never been initialised.
type PostgresBootstrap struct {
	// FromBackup is "latest" (the newest backup that fits Time) or a
	// backup's id.
	FromBackup string `yaml:"from_backup"`
	// Time, if set, is the moment to recover to (RFC 3339 with a zone
	// offset): every transaction committed at or before it, none after.
	// "" replays all the WAL the archive holds.
	Time string `yaml:"time"`
	// Target is Time parsed; zero when Time is "".
	Target time.Time `yaml:"-"`
}

// Defaults of the backup section; internal/backup has the same.
const (
	DefaultBackupSchedule      = "0 3 * * *"
	DefaultRestoreTestSchedule = "0 5 * * *"
	DefaultArchiveTimeout      = Duration(45 * time.Second)
	DefaultKeepBackups         = 7
	// BackupLatest is PostgresBootstrap.FromBackup's newest backup.
	BackupLatest = "latest"
)

// Limits of the backup section.
const (
	minArchiveTimeout = Duration(time.Second)
	maxArchiveTimeout = Duration(time.Hour)
	encryptionKeySize = 32
)

func (b *Backup) setDefaults() {
	b.Schedule = DefaultBackupSchedule
	b.ArchiveTimeout = DefaultArchiveTimeout
	b.Retention.Backups = DefaultKeepBackups
	b.RestoreTest.Schedule = DefaultRestoreTestSchedule
}

func (s *BackupS3) setDefaults() { s.Region = "us-east-1" }

// fileSetRE is the form of a file set's name: it names a directory in the
// store.
var fileSetRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// backupIDRE is the form of a backup's id: its start time in UTC.
var backupIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

func (k *checker) backup() {
	b := k.st.Backup
	k.bootstrap()
	if b == nil {
		return
	}
	const f = "backup"
	k.backupStore(f, b)
	if b.EncryptionKey != "" {
		// The key is a secret: its value is never part of a message.
		if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b.EncryptionKey)); err != nil {
			k.c.addf(f+".encryption_key", "not base64: generate a key with: openssl rand -base64 32")
		} else if len(key) != encryptionKeySize {
			k.c.addf(f+".encryption_key", "decodes to %d bytes; want %d (openssl rand -base64 32)", len(key), encryptionKeySize)
		}
	}
	k.schedule(f+".schedule", b.Schedule)
	k.schedule(f+".restore_test.schedule", b.RestoreTest.Schedule)
	if b.Retention.Backups < 0 {
		k.c.addf(f+".retention.backups", "must be >= 0, got %d", b.Retention.Backups)
	}
	if b.Retention.For < 0 {
		k.c.addf(f+".retention.for", "must be >= 0, got %s", b.Retention.For)
	}
	if b.ArchiveTimeout < minArchiveTimeout || b.ArchiveTimeout > maxArchiveTimeout {
		k.c.addf(f+".archive_timeout", "must be between %s and %s, got %s", minArchiveTimeout, maxArchiveTimeout, b.ArchiveTimeout)
	}
	if b.RestoreTest.Check != nil {
		k.command(f+".restore_test.check", b.RestoreTest.Check, k.st.Dir)
	}
	for _, name := range slices.Sorted(maps.Keys(b.Files)) {
		k.fileSet(f+".files."+name, name, b.Files[name])
	}
}

// backupStore checks where backups go: a local directory or S3, not both.
func (k *checker) backupStore(f string, b *Backup) {
	if b.S3 != nil {
		if b.Local != "" {
			k.c.addf(f+".local", "give either local or s3, not both")
		}
		if b.LocalShared {
			k.c.addf(f+".local_shared", "applies to a local store only; this section has s3")
		}
		k.backupS3(f+".s3", b.S3)
		return
	}
	field := f + ".local"
	if b.Local == "" {
		field = f // the default: the section is to blame
		if !k.c.covered("cluster.data_dir") {
			b.Local = filepath.Join(k.st.Cluster.DataDir, "backups")
		}
	} else {
		b.Local = k.path(field, b.Local)
	}
	if db := k.st.Database; db != nil && db.Postgres != nil && len(db.Postgres.Members) > 1 && !b.LocalShared {
		k.c.addf(field, "the local store %s is a directory of each node: with %d database members each would keep the WAL "+
			"it archived on its own disk, and after a failover no node would hold a complete archive. Use backup.s3 "+
			"(any S3-compatible store), or set backup.local_shared: true if %s is one file system every member mounts (NFS, CephFS...)",
			b.Local, len(db.Postgres.Members), b.Local)
	}
}

func (k *checker) backupS3(f string, s *BackupS3) {
	if s.Bucket == "" {
		k.c.addf(f+".bucket", "required: the bucket backups go to")
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			k.c.addf(f+".endpoint", "must be an http:// or https:// URL, got %q", s.Endpoint)
		}
	}
	if s.Prefix != "" && (strings.HasPrefix(s.Prefix, "/") || !strings.HasSuffix(s.Prefix, "/")) {
		k.c.addf(f+".prefix", "must not start with / and must end with /, got %q", s.Prefix)
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		k.c.addf(f+".secret_key", "access_key and secret_key go together")
	}
	if s.SessionToken != "" && s.AccessKey == "" {
		k.c.addf(f+".session_token", "needs access_key and secret_key")
	}
	if s.CAFile != "" {
		s.CAFile = k.file(f+".ca_file", s.CAFile)
	}
}

// schedule checks a cron schedule.
func (k *checker) schedule(field, spec string) {
	if spec == "" {
		k.c.addf(field, `required: e.g. "0 3 * * *", "@daily" or "@every 6h"`)
	} else if _, err := cron.Parse(spec); err != nil {
		k.c.addf(field, "%s", strings.TrimPrefix(err.Error(), cron.ErrBadSchedule.Error()+" "))
	}
}

// fileSet checks one entry of backup.files and makes its path absolute.
func (k *checker) fileSet(f, name string, s *BackupFileSet) {
	if !fileSetRE.MatchString(name) {
		k.c.note(k.c.line(f), f, "file set name %q must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters", name)
	}
	switch {
	case (s.Dir == "") == (s.SQLite == ""):
		k.c.addf(f, "give dir (a directory) or sqlite (a SQLite database file), one of them")
	case s.Dir != "":
		s.Dir = k.path(f+".dir", s.Dir)
	default:
		s.SQLite = k.path(f+".sqlite", s.SQLite)
	}
}

// bootstrap checks database.postgres.bootstrap, which restores from the
// backup section's store.
func (k *checker) bootstrap() {
	db := k.st.Database
	if db == nil || db.Postgres == nil || db.Postgres.Bootstrap == nil {
		return
	}
	const f = "database.postgres.bootstrap"
	bs := db.Postgres.Bootstrap
	if k.st.Backup == nil {
		k.c.addf(f, "needs a backup section: the backup is read from its store")
	}
	switch {
	case bs.FromBackup == "":
		k.c.addf(f+".from_backup", `required: "latest" or a backup's id (tandem db backups lists them)`)
	case bs.FromBackup != BackupLatest && !backupIDRE.MatchString(bs.FromBackup):
		k.c.addf(f+".from_backup", `must be "latest" or a backup's id such as 20261206T030000Z, got %q`, bs.FromBackup)
	}
	if bs.Time != "" {
		t, err := ParseTime(bs.Time)
		if err != nil {
			k.c.addf(f+".time", "%v", err)
		}
		bs.Target = t
	}
}

// ParseTime reads a point in time as a restore target: RFC 3339 with a
// zone offset or Z, seconds and a fraction optional, "T" or a space
// between date and time ("2026-12-06T04:54:03Z",
// "2026-12-06 05:54:03.25+01:00"). A time without a zone is refused: on
// which clock it is would be a guess.
func ParseTime(s string) (time.Time, error) {
	in := strings.TrimSpace(s)
	if len(in) > 10 && in[10] == ' ' {
		in = in[:10] + "T" + in[11:]
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, in); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04"} {
		if _, err := time.Parse(layout, in); err == nil {
			return time.Time{}, fmt.Errorf("time %q has no zone: add Z (UTC) or an offset such as +01:00", s)
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use RFC 3339, e.g. 2026-12-06T04:54:03Z or 2026-12-06 05:54:03+01:00", s)
}
