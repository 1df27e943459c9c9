package backup

import (
	"encoding/base64"

	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	ok := Config{S3: &S3Config{Endpoint: "http://127.0.0.1:7070", Bucket: "b", Prefix: "shop/", AccessKey: "a", SecretKey: "s"}, EncryptionKey: key}
	ok.SetDefaults("/var/lib/tandem")
	if ps := ok.Validate(); len(ps) != 0 {
		t.Errorf("Validate(good) = %v; want none", ps)
	}
	if ok.Local != "" || ok.ArchiveTimeout != DefaultArchiveTimeout || ok.Retention.Backups != DefaultKeepBackups || ok.S3.Region != "us-east-1" {
		t.Errorf("defaults = %+v", ok)
	}
	def := Config{}
	def.SetDefaults("/var/lib/tandem")
	if def.Local != "/var/lib/tandem/backups" || len(def.Validate()) != 0 {
		t.Errorf("empty section with defaults = %+v, %v; want the local store under the data dir", def, def.Validate())
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Local: "rel/dir", ArchiveTimeout: time.Minute}, "local"},
		{Config{Local: "/x", S3: &S3Config{Bucket: "b"}, ArchiveTimeout: time.Minute}, "local"},
		{Config{S3: &S3Config{}, ArchiveTimeout: time.Minute}, "s3.bucket"},
		{Config{S3: &S3Config{Bucket: "b", Endpoint: "s3.example.com"}, ArchiveTimeout: time.Minute}, "s3.endpoint"},
		{Config{S3: &S3Config{Bucket: "b", Prefix: "shop"}, ArchiveTimeout: time.Minute}, "s3.prefix"},
		{Config{S3: &S3Config{Bucket: "b", AccessKey: "a"}, ArchiveTimeout: time.Minute}, "s3.secret_key"},
		{Config{Local: "/x", EncryptionKey: "c2hvcnQ=", ArchiveTimeout: time.Minute}, "encryption_key"},
		{Config{Local: "/x", EncryptionKey: "not base64!", ArchiveTimeout: time.Minute}, "encryption_key"},
		{Config{Local: "/x", Retention: RetentionConfig{Backups: -1}, ArchiveTimeout: time.Minute}, "retention.backups"},
		{Config{Local: "/x", ArchiveTimeout: 2 * time.Hour}, "archive_timeout"},
		{Config{Local: "/x", ArchiveTimeout: time.Minute, Files: map[string]FileConfig{"db": {Dir: "/a", SQLite: "/b"}}}, "files.db"},
	} {
		ps := tc.c.Validate()
		if len(ps) == 0 || ps[0].Path != tc.want {
			t.Errorf("Validate(%+v) = %v; want a problem at %s", tc.c, ps, tc.want)
		}
	}
}

func TestPostgresSettings(t *testing.T) {
	c := Config{ArchiveTimeout: 45 * time.Second}
	s := c.PostgresSettings([]string{"/usr/bin/tandem"}, "/run/tandem/wal.sock")
	if s["archive_timeout"] != "45s" || s["archive_mode"] != "always" || !strings.Contains(s["archive_command"], "wal-push %p %f") {
		t.Errorf("PostgresSettings = %v", s)
	}
}
