package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env    map[string]string
		dbPath string
		err    bool
	}{
		{map[string]string{}, filepath.Join("data", "wiki.db"), false},
		{map[string]string{"WIKI_DATA": "/srv/wiki"}, "/srv/wiki/wiki.db", false},
		{map[string]string{"DATABASE_URL": "sqlite:///abs/path.db"}, "/abs/path.db", false},
		{map[string]string{"DATABASE_URL": "sqlite://relative.db"}, "relative.db", false},
		{map[string]string{"DATABASE_URL": "sqlite://data/wiki.db"}, "data/wiki.db", false},
		{map[string]string{"DATABASE_URL": "sqlite://"}, "", true},
		{map[string]string{"DATABASE_URL": "sqlite:///dir/"}, "", true},
		{map[string]string{"DATABASE_URL": "sqlite://x.db?mode=ro"}, "", true},
		{map[string]string{"DATABASE_URL": "mysql://db/wiki"}, "", true},
		{map[string]string{"DATABASE_URL": "wiki.db"}, "", true},
		{map[string]string{"PORT": "http"}, "", true},
		{map[string]string{"PORT": "70000"}, "", true},
		{map[string]string{"TANDEM_PURGE_URL": "edge:80"}, "", true},
		{map[string]string{"TANDEM_PURGE_URL": "http://127.0.0.1:8080/"}, filepath.Join("data", "wiki.db"), false},
		{map[string]string{"TANDEM_INSTANCE": "a\nb"}, "", true},
	} {
		c, err := configFromEnv(envFunc(tc.env))
		if (err != nil) != tc.err || c.DBPath != tc.dbPath {
			t.Errorf("configFromEnv(%v) = %q, %v; want %q, error %v", tc.env, c.DBPath, err, tc.dbPath, tc.err)
		}
	}
	for _, u := range []string{"postgres://u:pw@127.0.0.1:6432/wiki?sslmode=disable", "postgresql://db/wiki"} {
		c, err := configFromEnv(envFunc(map[string]string{"DATABASE_URL": u}))
		if err != nil || c.PostgresURL != u || c.DBPath != "" {
			t.Errorf("configFromEnv(DATABASE_URL=%s) = %+v, %v; want PostgreSQL", u, c, err)
		}
	}
	c, _ := configFromEnv(envFunc(map[string]string{"DATABASE_URL": "postgres://wiki:s3cret@127.0.0.1:6432/wiki"}))
	if got, want := c.Database(), "postgres://wiki@127.0.0.1:6432/wiki"; got != want {
		t.Errorf("Database() = %q; want %q, without the password", got, want)
	}
	for _, u := range []string{"postgres://u:s3cret@db:notaport/wiki", "postgres://u:s3cret@db/wiki?sslmode=sometimes"} {
		_, err := configFromEnv(envFunc(map[string]string{"DATABASE_URL": u}))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("configFromEnv(DATABASE_URL=%s) err = %v; want an error that does not show the password", u, err)
		}
	}
	c, _ = configFromEnv(envFunc(map[string]string{"WIKI_DATA": "/srv/wiki"}))
	if c.UploadDir != "/srv/wiki/uploads" {
		t.Errorf("UploadDir = %q; want /srv/wiki/uploads", c.UploadDir)
	}
}
