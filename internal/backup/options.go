package backup

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is the stack file's backup section, as internal/config decodes
// it (strictly; ${VAR} already substituted; durations with units, "14d"):
//
//	backup:
//	  local: /var/lib/tandem/backups       # the default store: <cluster.data_dir>/backups
//	  s3:                                  # or any S3-compatible store instead
//	    endpoint: https://s3.eu-west-1.amazonaws.com
//	    bucket: shop-backups
//	    prefix: shop/
//	    region: eu-west-1
//	    path_style: false
//	    ca_file: /etc/tandem/store-ca.pem
//	    access_key: ${BACKUP_ACCESS_KEY}
//	    secret_key: ${BACKUP_SECRET_KEY}
//	  encryption_key: ${TANDEM_BACKUP_KEY} # optional: base64 of 32 random bytes (openssl rand -base64 32)
//	  schedule: "0 3 * * *"                # base backups and file sets, once per cluster
//	  retention: { backups: 7, for: 14d }  # keep 7 backups and whatever restores to any second of 14 days
//	  archive_timeout: 45s                 # a segment switch at least this often: RPO <= 60 s idle or not
//	  restore_test:
//	    schedule: "0 5 * * *"
//	    query: SELECT count(*) FROM pages
//	    check: ["bin/check-restore"]       # run with DATABASE_URL pointing at the restored copy
//	  files:
//	    uploads: { dir: /srv/wiki/uploads }
//	    wiki-db: { sqlite: /srv/wiki/wiki.db }
//
// The node maps it onto NewLocalStore or NewS3Store, NewRepository,
// ArchiverOptions and Options, and the schedules onto the cluster cron.
type Config struct {
	Local          string                `yaml:"local"`
	S3             *S3Config             `yaml:"s3"`
	EncryptionKey  string                `yaml:"encryption_key"`
	Schedule       string                `yaml:"schedule"`
	Retention      RetentionConfig       `yaml:"retention"`
	ArchiveTimeout time.Duration         `yaml:"archive_timeout"`
	RestoreTest    RestoreTestConfig     `yaml:"restore_test"`
	Files          map[string]FileConfig `yaml:"files"`
}

// S3Config is backup.s3.
type S3Config struct {
	Endpoint     string `yaml:"endpoint"`
	Bucket       string `yaml:"bucket"`
	Prefix       string `yaml:"prefix"`
	Region       string `yaml:"region"`
	PathStyle    bool   `yaml:"path_style"`
	CAFile       string `yaml:"ca_file"`
	AccessKey    string `yaml:"access_key"`
	SecretKey    string `yaml:"secret_key"`
	SessionToken string `yaml:"session_token"`
}

// RetentionConfig is backup.retention.
type RetentionConfig struct {
	Backups int           `yaml:"backups"`
	For     time.Duration `yaml:"for"`
}

// RestoreTestConfig is backup.restore_test.
type RestoreTestConfig struct {
	Schedule string   `yaml:"schedule"` // "" : no scheduled restore test (refused: see Validate)
	Query    string   `yaml:"query"`
	Check    []string `yaml:"check"`
}

// FileConfig is one entry of backup.files.
type FileConfig struct {
	Dir    string `yaml:"dir"`
	SQLite string `yaml:"sqlite"`
}

// Defaults of the section.
const (
	DefaultSchedule            = "0 3 * * *"
	DefaultRestoreTestSchedule = "0 5 * * *" // after each default daily backup: every backup is restored once
	// DefaultArchiveTimeout forces a WAL segment switch at least this
	// often when anything was written, leaving 15 s to archive the
	// segment: RPO <= 60 s without writes being needed to push it out.
	DefaultArchiveTimeout = 45 * time.Second
	DefaultKeepBackups    = 7
)

// SetDefaults fills what the stack file left out; dataDir is the
// cluster's data directory.
func (c *Config) SetDefaults(dataDir string) {
	if c.S3 == nil && c.Local == "" {
		c.Local = filepath.Join(dataDir, "backups")
	}
	if c.Schedule == "" {
		c.Schedule = DefaultSchedule
	}
	if c.ArchiveTimeout == 0 {
		c.ArchiveTimeout = DefaultArchiveTimeout
	}
	if c.Retention == (RetentionConfig{}) {
		c.Retention.Backups = DefaultKeepBackups
	}
	if c.RestoreTest.Schedule == "" {
		c.RestoreTest.Schedule = DefaultRestoreTestSchedule
	}
	if c.S3 != nil && c.S3.Region == "" {
		c.S3.Region = "us-east-1"
	}
}

// Problem is one invalid field, its path relative to the section
// ("s3.bucket"); config prefixes "backup." and adds the line.
type Problem struct {
	Path, Msg string
}

// Validate checks the section after SetDefaults, without side effects.
// Schedules are checked by the caller with cron.Parse (this package does
// not import cron).
func (c *Config) Validate() []Problem {
	var ps []Problem
	add := func(path, format string, a ...any) { ps = append(ps, Problem{path, fmt.Sprintf(format, a...)}) }
	if c.S3 != nil && c.Local != "" {
		add("local", "give either local or s3, not both")
	}
	if c.Local != "" && !filepath.IsAbs(c.Local) {
		add("local", "must be an absolute path, got %q", c.Local)
	}
	if s := c.S3; s != nil {
		if s.Bucket == "" {
			add("s3.bucket", "required")
		}
		if s.Endpoint != "" {
			if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("s3.endpoint", "must be an http:// or https:// URL, got %q", s.Endpoint)
			}
		}
		if s.Prefix != "" && (strings.HasPrefix(s.Prefix, "/") || !strings.HasSuffix(s.Prefix, "/")) {
			add("s3.prefix", "must not start with / and must end with /, got %q", s.Prefix)
		}
		if (s.AccessKey == "") != (s.SecretKey == "") {
			add("s3.secret_key", "access_key and secret_key go together")
		}
		if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
			add("s3.ca_file", "must be an absolute path, got %q", s.CAFile)
		}
	}
	if c.EncryptionKey != "" {
		if _, err := ParseEncryptionKey(c.EncryptionKey); err != nil {
			add("encryption_key", "%v", err)
		}
	}
	if c.Retention.Backups < 0 {
		add("retention.backups", "must be >= 0, got %d", c.Retention.Backups)
	}
	if c.Retention.For < 0 {
		add("retention.for", "must be >= 0")
	}
	if c.ArchiveTimeout < time.Second || c.ArchiveTimeout > time.Hour {
		add("archive_timeout", "must be between 1s and 1h, got %s", c.ArchiveTimeout)
	}
	names := make([]string, 0, len(c.Files))
	for n := range c.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := c.Files[n]
		if err := (FileSet{Name: n, Dir: f.Dir, SQLite: f.SQLite}).validate(); err != nil {
			add("files."+n, "%v", err)
		}
	}
	return ps
}

// ParseEncryptionKey decodes a base64 key of EncryptionKeySize bytes.
func ParseEncryptionKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: generate one with: openssl rand -base64 32")
	}
	if len(k) != EncryptionKeySize {
		return nil, fmt.Errorf("decodes to %d bytes; want %d (openssl rand -base64 32)", len(k), EncryptionKeySize)
	}
	return k, nil
}

// NewStore opens the store the section names.
func (c *Config) NewStore() (Store, error) {
	if s := c.S3; s != nil {
		return NewS3Store(S3Options{Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
			PathStyle: s.PathStyle, CAFile: s.CAFile, AccessKey: s.AccessKey, SecretKey: s.SecretKey, SessionToken: s.SessionToken})
	}
	return NewLocalStore(c.Local)
}

// FileSets lists the section's file sets by name.
func (c *Config) FileSets() []FileSet {
	var out []FileSet
	for n, f := range c.Files {
		out = append(out, FileSet{Name: n, Dir: f.Dir, SQLite: f.SQLite})
	}
	slices.SortFunc(out, func(a, b FileSet) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PostgresSettings are the settings the database driver gives every
// member so that whichever is primary archives through the node's WAL
// socket. After starting a server, once it accepts writes, the driver must
// run SELECT pg_reload_conf(): PostgreSQL 15's checkpointer otherwise
// ignores archive_timeout for a whole checkpoint_timeout after a start. archive_mode "always" makes a standby archive what it receives
// too: a segment the old primary had not archived when it died is still
// archived (the same bytes twice are one object, see PutWAL).
func (c *Config) PostgresSettings(exe []string, socket string) map[string]string {
	return map[string]string{
		"archive_mode":    "always",
		"archive_command": ArchiveCommand(exe, socket),
		"archive_timeout": fmt.Sprintf("%ds", int(c.ArchiveTimeout.Seconds())),
		"restore_command": RestoreCommand(exe, socket),
	}
}
