// Command wiki is tandem's example monolith: a small wiki that behaves the
// way tandem expects an app to. It serves on $PORT, keeps pages, sessions
// and file metadata in one SQLite file that several instances share, tags
// its cacheable pages with Surrogate-Key and purges them on edit, and has
// a migrate command for the release phase. With a postgres:// DATABASE_URL
// (tandem's database endpoint) it keeps the same data in PostgreSQL.
//
// Usage:
//
//	wiki [serve]   run the web server on $PORT (migrating first if needed)
//	wiki migrate   create or upgrade the schema, then exit
//
// Configuration is read from the environment only; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM. The edge has normally drained this instance by then.
const shutdownTimeout = 10 * time.Second

const usage = `usage: wiki [serve|migrate]

  serve    run the web server on $PORT (the default)
  migrate  create or upgrade the database schema, then exit

Environment: PORT, DATABASE_URL, WIKI_DATA, TANDEM_PURGE_URL, TANDEM_INSTANCE;
S3_BUCKET (with AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, S3_FORCE_PATH_STYLE, S3_PUBLIC_URL) keeps uploads in S3.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code (0 ok,
// 1 failure, 2 usage or configuration error).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 || (cmd != "serve" && cmd != "migrate") {
		if cmd == "help" || cmd == "-h" || cmd == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	if inst := getenv("TANDEM_INSTANCE"); inst != "" {
		log = log.With("instance", inst)
	}
	cfg, err := configFromEnv(getenv)
	if err == nil && cmd == "serve" && cfg.Port == "" {
		err = errors.New("PORT is not set: serve needs a port to listen on")
	}
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 2
	}

	if cmd == "migrate" {
		err = migrate(ctx, cfg, log)
	} else {
		err = serve(ctx, cfg, log)
	}
	if err != nil {
		log.Error("command failed", "command", cmd, "err", err)
		return 1
	}
	return 0
}

// openStore opens the configured database: PostgreSQL when DATABASE_URL
// says so, else the SQLite file.
func openStore(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.PostgresURL != "" {
		return OpenPostgres(ctx, cfg.PostgresURL)
	}
	return OpenStore(ctx, cfg.DBPath)
}

func migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	from, to, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("schema up to date", "db", cfg.Database(), "from_version", from, "version", to)
	return nil
}

// serve runs the web server until ctx ends, then stops accepting, lets
// in-flight requests finish within shutdownTimeout, and closes the database.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	// The release phase normally ran `wiki migrate` already; then this
	// finds nothing to do. Without it, the first run just works.
	from, to, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	if from != to {
		log.Info("schema migrated", "from_version", from, "version", to)
	}

	var purger *Purger
	if cfg.PurgeURL != "" {
		purger = NewPurger(cfg.PurgeURL)
	}
	var objects *Objects
	if cfg.Objects != nil {
		if objects, err = NewObjects(ctx, *cfg.Objects); err != nil {
			return err
		}
	}
	app, err := NewApp(AppOptions{Store: store, Purger: purger, Logger: log,
		Instance: cfg.Instance, UploadDir: cfg.UploadDir, Objects: objects})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 10 MiB upload on a slow link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "port", cfg.Port, "addr", ln.Addr().String(), "db", cfg.Database(),
		"purge_url", cfg.PurgeURL, "uploads", uploadsWhere(cfg))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // past the deadline: cut the stragglers off
	}
	<-served // Serve returns ErrServerClosed once Shutdown has begun
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// uploadsWhere says where uploads go, for the log.
func uploadsWhere(cfg Config) string {
	if cfg.Objects != nil {
		return "s3 bucket " + cfg.Objects.Bucket
	}
	return cfg.UploadDir
}
