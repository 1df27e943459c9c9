package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Options configures a Manager.
type Options struct {
	Repository *Repository
	Postgres   Postgres
	// Archiver is this node's WAL archiver; its status is part of Status.
	// Nil on a node that archives nothing.
	Archiver *Archiver

	// Source returns the server to take a base backup from (a healthy
	// standby when there is one, else the primary): its name, which the
	// backup records ("": host, port and user of conn), and its connection
	// string (libpq key=value or URL). The user needs the REPLICATION
	// attribute.
	Source func(ctx context.Context) (name, conn string, err error)
	// FastCheckpoint starts a backup with an immediate checkpoint rather
	// than a spread one: quicker to start, harder on the server's I/O.
	FastCheckpoint bool
	// PartSize is the size of the stored parts of a backup; 32 MiB when 0.
	// Two or three parts are in memory at a time.
	PartSize int
	// ArchiveWait bounds how long a backup waits for its last WAL segment
	// to reach the archive (a backup from a standby waits for the
	// primary's next segment switch); 3 min when 0.
	ArchiveWait time.Duration
	// BackupEvery is the longest expected time between two base backups
	// (from the schedule); Status reports a backup overdue past it plus
	// an hour. 0: never overdue.
	BackupEvery time.Duration

	// ScratchDir holds restore tests' data directories; it needs room for
	// a restored copy of the database.
	ScratchDir string
	// Command is the tandem executable (and any leading arguments) that
	// restore_command runs: `Command... db wal-fetch %f %p --socket S`.
	Command []string
	// User is the database superuser restore tests connect as ("postgres"
	// when empty).
	User string
	// SanityQuery is run on a restored copy; it must succeed and return a
	// row. "SELECT count(*) FROM pg_catalog.pg_class" when empty.
	SanityQuery string
	// CheckCommand, if set, is the app's own check of a restored copy: run
	// with DATABASE_URL pointing at it, it must exit 0.
	CheckCommand []string
	// RecoveryTimeout bounds a restore's recovery (replaying WAL until the
	// target); 1 h when 0.
	RecoveryTimeout time.Duration

	Retention Retention

	// Files are the app's file sets, stored by RunFileBackup, checked by
	// RunRestoreTest and pruned by ApplyRetention with the same rules.
	Files []FileSet

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil: time.Now
}

// Manager takes base backups, restores them, runs restore tests and
// applies retention. Its Run* methods are plain calls: the node's cluster
// cron runs them once per cluster at their times.
type Manager struct {
	repo *Repository
	pg   Postgres
	opts Options
	log  *slog.Logger

	runMu sync.Mutex // one backup, restore test or retention pass at a time

	mu         sync.Mutex // guards the fields below
	lastBackup *BackupResult
	lastGood   *BackupResult
	lastTest   *RestoreTestResult
	lastRet    *RetentionResult
}

// New makes a Manager; it starts nothing.
func New(o Options) (*Manager, error) {
	if o.Repository == nil {
		return nil, errors.New("backup: no repository")
	}
	if o.PartSize == 0 {
		o.PartSize = 32 << 20
	}
	if o.ArchiveWait == 0 {
		o.ArchiveWait = 3 * time.Minute
	}
	if o.RecoveryTimeout == 0 {
		o.RecoveryTimeout = time.Hour
	}
	if o.User == "" {
		o.User = "postgres"
	}
	if o.SanityQuery == "" {
		o.SanityQuery = "SELECT count(*) FROM pg_catalog.pg_class"
	}
	for _, f := range o.Files {
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{repo: o.Repository, pg: o.Postgres, opts: o, log: o.Logger}, nil
}

// Status is everything alarms need to know about backups.
type Status struct {
	Archive       *ArchiveStatus     // nil without an archiver
	LastBackup    *BackupResult      // the last attempt, failed or not
	LastGood      *BackupResult      // the last successful backup
	BackupOverdue bool               // no successful backup within BackupEvery (+1 h)
	LastTest      *RestoreTestResult // the last restore test
	LastRetention *RetentionResult
}

// Status reports the state of archiving, backups and restore tests. It
// does no I/O.
func (m *Manager) Status() Status {
	var s Status
	if m.opts.Archiver != nil {
		a := m.opts.Archiver.Status()
		s.Archive = &a
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.LastBackup, s.LastGood, s.LastTest, s.LastRetention = m.lastBackup, m.lastGood, m.lastTest, m.lastRet
	if m.opts.BackupEvery > 0 {
		s.BackupOverdue = m.lastGood == nil || m.opts.Now().Sub(m.lastGood.Finished) > m.opts.BackupEvery+time.Hour
	}
	return s
}

// Repository is the manager's repository.
func (m *Manager) Repository() *Repository { return m.repo }

// Refresh reads from the repository what other nodes may have done: the
// newest complete backup and the newest restore test result. Backups and
// restore tests run on whichever node the cluster cron picks; this lets
// every node's Status tell the same story. It keeps what it knows when the
// store cannot be read.
func (m *Manager) Refresh(ctx context.Context) error {
	list, _, err := m.repo.Backups(ctx)
	if err != nil {
		return fmt.Errorf("refresh backup status: %w", err)
	}
	var test *RestoreTestResult
	var newest string
	err = m.repo.store.List(ctx, "restore-tests/", func(o ObjectInfo) error { newest = o.Key; return nil })
	if err != nil {
		return fmt.Errorf("refresh backup status: %w", err)
	}
	if newest != "" {
		if b, err := m.repo.getStored(ctx, newest); err == nil {
			var r RestoreTestResult
			if json.Unmarshal(b, &r) == nil {
				test = &r
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(list); n > 0 && (m.lastGood == nil || m.lastGood.Backup == nil || list[n-1].StopTime.After(m.lastGood.Finished)) {
		b := list[n-1]
		m.lastGood = &BackupResult{Started: b.StartTime, Finished: b.StopTime, Backup: &b}
	}
	if test != nil && (m.lastTest == nil || test.Started.After(m.lastTest.Started)) {
		m.lastTest = test
	}
	return nil
}
