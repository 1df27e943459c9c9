package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// The program is also the two pieces of tandem that run beside
// PostgreSQL: the WAL client archive_command and restore_command run
// (`db wal-push` / `db wal-fetch`, what tandem's own commands do), and
// the node's archiver (`archiverMode`), which runs in the server's box so
// that it dies with the machine, as a node would.

// archiverMode is the first argument that makes the program tandem's
// archiver; its settings come in archiverEnv as JSON.
const (
	archiverMode = "__archiver"
	archiverEnv  = "TANDEM_BENCH_ARCHIVER"
)

// archiverSpec is what the archiver process serves.
type archiverSpec struct {
	Socket   string    `json:"socket"`
	Store    storeSpec `json:"store"`
	AllowUID int       `json:"allow_uid"`
	DataDir  string    `json:"data_dir"`
}

// storeSpec names a store: a local directory or a bucket prefix.
type storeSpec struct {
	Local string            `json:"local,omitempty"`
	S3    *backup.S3Options `json:"s3,omitempty"`
}

func (s storeSpec) open() (backup.Store, error) {
	if s.S3 != nil {
		return backup.NewS3Store(*s.S3)
	}
	return backup.NewLocalStore(s.Local)
}

// walClientMain is what `tandem db wal-push|wal-fetch` does.
func walClientMain(args []string) int {
	if len(args) != 6 || args[0] != "db" || args[4] != "--socket" {
		fmt.Fprintf(os.Stderr, "usage: db wal-push PATH NAME --socket S | db wal-fetch NAME PATH --socket S (got %q)\n", args)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch args[1] {
	case "wal-push":
		if err := backup.PushWAL(ctx, args[5], args[2], args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "tandem:", err)
			return 1
		}
		return 0
	case "wal-fetch":
		err := backup.FetchWAL(ctx, args[5], args[2], args[3])
		if err != nil && !errors.Is(err, backup.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "tandem:", err)
		}
		return backup.FetchExitCode(err)
	}
	fmt.Fprintf(os.Stderr, "unknown command db %s\n", args[1])
	return 2
}

// archiverMain runs tandem's archiver until SIGTERM or SIGINT.
func archiverMain() int {
	var spec archiverSpec
	if err := json.Unmarshal([]byte(os.Getenv(archiverEnv)), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "archiver: %s: %v\n", archiverEnv, err)
		return 2
	}
	store, err := spec.Store.open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		return 1
	}
	repo, err := backup.NewRepository(store, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		return 1
	}
	a, err := backup.NewArchiver(backup.ArchiverOptions{Repository: repo, Socket: spec.Socket, AllowUIDs: []int{spec.AllowUID},
		DataDir: func() string { return spec.DataDir }, CheckInterval: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		return 1
	}
	return 0
}
