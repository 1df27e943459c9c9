package backuprun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/pgha"
)

// The runtime's files live in <data_dir>/backup: the WAL socket, the
// jobs' history, the connection files of pg_basebackup and the restore
// tests' scratch directories.
const (
	dirName       = "backup"
	walSocketName = "wal.sock"
	// maxSocketPath is what a Unix socket's path may hold (sun_path).
	maxSocketPath = 107
)

// Runtime is this node's backups. New builds it and touches nothing;
// Open opens the store and builds the archiver, the manager and the
// jobs; Run runs them.
type Runtime struct {
	o      Options
	dir    string // <data_dir>/backup
	socket string // the WAL socket
	log    *slog.Logger
	// since is when the node started: no backup is overdue before.
	since time.Time

	// The fields below are set by Open, before opened.
	opened   atomic.Bool
	repo     *backup.Repository
	archiver *backup.Archiver // nil unless this node is a database member
	mgr      *backup.Manager
	pg       backup.Postgres // zero when this node has no PostgreSQL
	// jobs runs the base backups and restore tests; nil on a node that
	// cannot (noJobs says why): the others of the cluster run them.
	jobs   *cron.Runner
	noJobs error
	// every is the longest time between two base backups of the schedule.
	every, testEvery time.Duration
	alarms           *alarms
	peers            peers // the other nodes' published state

	mu      sync.Mutex       // guards lastRun
	lastRun *admin.BackupRun // this node's last backup job
	// first is set while firstBackup runs the backup job: the run, once it
	// holds the job's lock, takes no backup if one has been stored since
	// firstBackup looked (another node's first, which held the lock).
	first atomic.Bool
}

var _ admin.Backups = (*Runtime)(nil)

// New builds the runtime of o; it touches no file.
func New(o Options) (*Runtime, error) {
	if o.Cluster == nil {
		return nil, errors.New("backups: no cluster")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Database == nil {
		o.Database = func() Database { return nil }
	}
	if o.Alert == nil {
		o.Alert = func(time.Time, string, string, string) {}
	}
	dir := filepath.Join(o.DataDir, dirName)
	return &Runtime{o: o, dir: dir, socket: filepath.Join(dir, walSocketName), log: o.Logger}, nil
}

// Open makes the runtime's directories and opens the store, the
// archiver of a database member, the manager and the jobs; since is when
// the node started. The postgres user must be able to go through the
// data directory. A member's PostgreSQL archives through the runtime
// (ArchiveMember): it opens before the database.
func (r *Runtime) Open(since time.Time) (err error) {
	cfg := r.o.Config
	if ps := cfg.Validate(); len(ps) > 0 {
		return fmt.Errorf("backup.%s: %s", ps[0].Path, ps[0].Msg) // config checked it: a disagreement
	}
	if len(r.socket) > maxSocketPath {
		return fmt.Errorf("the WAL socket's path %s is longer than a Unix socket's %d bytes: choose a shorter cluster.data_dir", r.socket, maxSocketPath)
	}
	r.since = since
	if err := r.makeDirs(); err != nil {
		return err
	}
	if r.repo, err = openRepository(cfg); err != nil {
		return err
	}
	pg, pgErr := backup.FindPostgres()
	r.pg = pg
	if slices.Contains(r.o.Members, r.o.Node) {
		if pgErr != nil {
			return pgErr
		}
		if r.archiver, err = backup.NewArchiver(backup.ArchiverOptions{Repository: r.repo, Socket: r.socket,
			AllowUIDs: []int{pg.UID}, DataDir: func() string { return r.o.PostgresDataDir }, Logger: r.log}); err != nil {
			return err
		}
	}
	r.every, r.testEvery = cron.LongestInterval(cfg.Schedule), cron.LongestInterval(cfg.RestoreTest.Schedule)
	if r.mgr, err = backup.New(r.managerOptions()); err != nil {
		return err
	}
	r.alarms = newAlarms(r.o.Alert, r.log)
	switch {
	case r.hasDatabase() && pgErr != nil:
		r.noJobs = fmt.Errorf("this node cannot take base backups: %w", pgErr)
		r.log.Info("base backups and restore tests run on the other nodes", "reason", pgErr)
	default:
		if r.jobs, err = r.newJobs(); err != nil {
			return err
		}
	}
	r.opened.Store(true)
	return nil
}

// makeDirs makes <data_dir>/backup and what it holds. The postgres user
// goes through backup/ to the socket and the scratch directories, and
// lists neither.
func (r *Runtime) makeDirs() error {
	for _, d := range []string{r.dir, filepath.Join(r.dir, "scratch")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(r.dir, "jobs"), 0o700)
}

// openRepository opens the section's store and the repository in it.
func openRepository(c backup.Config) (*backup.Repository, error) {
	store, err := c.NewStore()
	if err != nil {
		return nil, err
	}
	var key []byte
	if c.EncryptionKey != "" {
		if key, err = backup.ParseEncryptionKey(c.EncryptionKey); err != nil {
			return nil, fmt.Errorf("encryption_key: %w", err)
		}
	}
	return backup.NewRepository(store, key)
}

// managerOptions maps the section onto the manager's options.
func (r *Runtime) managerOptions() backup.Options {
	c := r.o.Config
	o := backup.Options{
		Repository: r.repo, Postgres: r.pg, Archiver: r.archiver,
		BackupEvery: r.every,
		ScratchDir:  filepath.Join(r.dir, "scratch"),
		Command:     r.o.Program,
		SanityQuery: c.RestoreTest.Query, CheckCommand: c.RestoreTest.Check,
		Retention: backup.Retention{KeepBackups: c.Retention.Backups, KeepFor: c.Retention.For},
		Files:     append(c.FileSets(), r.o.FileSets...),
		Logger:    r.log,
	}
	if r.hasDatabase() {
		o.Source = r.source
	}
	return o
}

// hasDatabase reports whether the stack has a database, which has base
// backups and restore tests.
func (r *Runtime) hasDatabase() bool { return len(r.o.Members) > 0 }

// Go runs f in a goroutine its caller owns: it cancels f's context and
// waits for f to return.
type Go func(name string, f func(context.Context) error)

// Run starts the runtime's goroutines once it is open: the WAL archiver
// with run, as long as PostgreSQL runs (it archives and restores through
// it); the jobs and the watch loop with runEarly, which the node stops
// first when it hands over to a new binary.
func (r *Runtime) Run(run, runEarly Go) {
	if r.archiver != nil {
		run("wal archiver", r.archiver.Run)
	}
	if r.jobs != nil {
		runEarly("backup jobs", r.jobs.Run)
	}
	runEarly("backup watch", r.watch)
}

// ArchiveMember sets a database member's archiving: archive_mode always,
// archive_command and restore_command through the WAL socket,
// archive_timeout; and, with Options.Bootstrap, the restore a new cluster
// starts from. The runtime must be open.
func (r *Runtime) ArchiveMember(o *pgha.Options) {
	s := r.o.Config.PostgresSettings(r.o.Program, r.socket)
	o.Archive = pgha.Archive{Mode: s["archive_mode"], Command: s["archive_command"], Timeout: r.o.Config.ArchiveTimeout,
		RestoreCommand: s["restore_command"]}
	if bs := r.o.Bootstrap; bs != nil {
		o.Bootstrap = func(ctx context.Context, dir string) error {
			ro := backup.RestoreOptions{Dir: dir, Time: bs.Target, Socket: r.socket, Bootstrap: true, BackupID: bs.BackupID}
			res, err := r.mgr.Restore(ctx, ro)
			if err == nil {
				r.log.Info("cluster bootstrapped from a backup", "backup", res.Backup.ID, "target", res.Target)
			}
			return err
		}
	}
}
