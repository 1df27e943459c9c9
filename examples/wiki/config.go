package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Config is everything the wiki reads from its environment (the Heroku
// convention: one process, configured by env vars, serving on $PORT).
type Config struct {
	Port   string // PORT; required by serve, unused by migrate
	DBPath string // SQLite file, from DATABASE_URL or $WIKI_DATA/wiki.db; "" with PostgresURL
	// PostgresURL is a postgres:// DATABASE_URL (tandem's database
	// endpoint); "" for SQLite.
	PostgresURL string
	DataDir     string // WIKI_DATA, default ./data
	UploadDir   string // $WIKI_DATA/uploads
	PurgeURL    string // TANDEM_PURGE_URL; empty means edits purge nothing
	Instance    string // TANDEM_INSTANCE; empty means no X-Instance header
	// Objects is the S3 bucket uploads go to (S3_BUCKET and the AWS
	// SDK's variables); nil keeps them in UploadDir.
	Objects *ObjectsConfig
}

// configFromEnv reads the configuration through getenv (os.Getenv in main,
// a map in tests). It validates every value it can without touching disk.
func configFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Port:     getenv("PORT"),
		DataDir:  getenv("WIKI_DATA"),
		PurgeURL: getenv("TANDEM_PURGE_URL"),
		Instance: getenv("TANDEM_INSTANCE"),
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	c.UploadDir = filepath.Join(c.DataDir, "uploads")

	if c.Port != "" {
		if n, err := strconv.Atoi(c.Port); err != nil || n < 0 || n > 65535 {
			return Config{}, fmt.Errorf("PORT: %q is not a port number", c.Port)
		}
	}
	switch dbURL := getenv("DATABASE_URL"); {
	case isPostgresURL(dbURL):
		// pgx reads the URL as libpq does; its errors show no password.
		if _, err := pgx.ParseConfig(dbURL); err != nil {
			return Config{}, fmt.Errorf("DATABASE_URL: %w", err)
		}
		c.PostgresURL = dbURL
	case dbURL != "":
		p, err := sqlitePath(dbURL)
		if err != nil {
			return Config{}, fmt.Errorf("DATABASE_URL: %w", err)
		}
		c.DBPath = p
	default:
		c.DBPath = filepath.Join(c.DataDir, "wiki.db")
	}
	if strings.ContainsAny(c.DBPath, "?") {
		return Config{}, fmt.Errorf("database path %q: must not contain '?'", c.DBPath)
	}
	if c.PurgeURL != "" {
		u, err := url.Parse(c.PurgeURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, fmt.Errorf("TANDEM_PURGE_URL: %q is not an absolute http(s) URL", c.PurgeURL)
		}
	}
	switch oc, ok, err := objectsFromEnv(getenv); {
	case err != nil:
		return Config{}, err
	case ok:
		c.Objects = &oc
	}
	if len(c.Instance) > 100 || strings.ContainsFunc(c.Instance, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Config{}, fmt.Errorf("TANDEM_INSTANCE: must be at most 100 printable characters")
	}
	return c, nil
}

// isPostgresURL reports whether a DATABASE_URL names PostgreSQL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Database names the configured database for logs, without a password.
func (c Config) Database() string {
	if c.PostgresURL == "" {
		return c.DBPath
	}
	cfg, err := pgx.ParseConfig(c.PostgresURL)
	if err != nil {
		return "postgres"
	}
	return describePostgres(cfg)
}

// sqlitePath returns the file path in a sqlite:// URL. It does not use
// url.Parse: in sqlite://data/wiki.db the "data" is a directory, not a host.
// sqlite:///abs/path.db is absolute, sqlite://rel/path.db relative to the
// working directory.
func sqlitePath(dbURL string) (string, error) {
	scheme, rest, ok := strings.Cut(dbURL, "://")
	switch {
	case !ok:
		return "", fmt.Errorf("%q is not a URL (want sqlite:///abs/path.db or sqlite://relative.db)", dbURL)
	case scheme != "sqlite":
		return "", fmt.Errorf("unsupported scheme %q (want sqlite:// or postgres://)", scheme)
	case rest == "" || strings.HasSuffix(rest, "/"):
		return "", fmt.Errorf("%q names no file", dbURL)
	case strings.ContainsAny(rest, "?#"):
		return "", fmt.Errorf("%q: query parameters and fragments are not supported", dbURL)
	}
	return filepath.Clean(rest), nil
}
