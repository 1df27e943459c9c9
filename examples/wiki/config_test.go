package main

import (
	"maps"
	"path/filepath"
	"reflect"
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

func TestObjectsFromEnv(t *testing.T) {
	t.Parallel()
	store := map[string]string{"S3_BUCKET": "shop-wiki", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7480", "S3_FORCE_PATH_STYLE": "true", "S3_PUBLIC_URL": "/media/"}
	with := func(k, v string) map[string]string {
		m := maps.Clone(store)
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want *ObjectsConfig
		err  string
	}{
		{"no bucket: the upload directory", map[string]string{"AWS_ENDPOINT_URL_S3": "http://x"}, nil, ""},
		{"tandem's environment", store, &ObjectsConfig{Bucket: "shop-wiki", PathStyle: true, PublicURL: "/media/"}, ""},
		{"AWS S3 by region", map[string]string{"S3_BUCKET": "b", "AWS_REGION": "eu-west-1"}, &ObjectsConfig{Bucket: "b"}, ""},
		{"nowhere", with("AWS_ENDPOINT_URL_S3", ""), nil, "neither AWS_ENDPOINT_URL_S3 nor AWS_REGION"},
		{"bad path style", with("S3_FORCE_PATH_STYLE", "yes please"), nil, "S3_FORCE_PATH_STYLE"},
	} {
		c, err := configFromEnv(func(k string) string { return tc.env[k] })
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: configFromEnv = %v; want an error naming %s", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: configFromEnv: %v", tc.name, err)
		case !reflect.DeepEqual(c.Objects, tc.want):
			t.Errorf("%s: Objects = %+v; want %+v", tc.name, c.Objects, tc.want)
		}
	}
}
