package backuprun

import (
	"context"
	"log/slog"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/pgha"
)

// Options configure a Runtime.
type Options struct {
	// Config is the stack's backup section.
	Config backup.Config
	// Node is this node's name.
	Node string
	// DataDir is the node's data directory (cluster.data_dir): the
	// runtime's files live in its backup/.
	DataDir string
	// PostgresDataDir is this node's PostgreSQL data directory, which the
	// archiver of a database member reads (WAL waiting, disk left).
	PostgresDataDir string
	// Program is the command that runs this tandem binary (the program and
	// any leading arguments), which PostgreSQL's archive_command and
	// restore_command and the restore tests run.
	Program []string
	// Members are the database's members; none when the stack has no
	// database, whose node then takes no base backup and runs no restore
	// test. This node archives when it is one of them.
	Members []string
	// Bootstrap, if not nil, is the backup a new database cluster's first
	// member restores instead of starting empty (database.postgres.bootstrap).
	Bootstrap *Bootstrap
	// FileSets are the file sets besides the backup section's own: the
	// apps' buckets of the storage section (storage:<app>).
	FileSets []backup.FileSet
	// StoreBucket makes a client of a bucket of the storage's store, which
	// an app's bucket is restored into; nil without a storage section.
	StoreBucket func(name string) (*backup.S3Bucket, error)

	// Cluster is the control plane: the records each node publishes its
	// state in, and the backup jobs' locks. Required.
	Cluster Cluster
	// Database returns the stack's database on this node once it is open;
	// nil before, and always on a stack without one.
	Database func() Database
	// CA returns the cluster's CA certificate (PEM), which pg_basebackup
	// verifies the member it backs up against.
	CA func() []byte
	// Speaker reports whether this node speaks for the cluster: it alone
	// raises the alarms every node would see alike (a backup overdue).
	// nil: it does.
	Speaker func() bool
	// Alert sends an alert: a backup alarm raised or cleared. nil sends
	// none.
	Alert func(at time.Time, subject, event, message string)
	// Logger receives the runtime's log; nil discards it.
	Logger *slog.Logger
}

// Bootstrap is the backup a new database cluster starts from.
type Bootstrap struct {
	// BackupID is the backup restored; "" the newest that fits Target.
	BackupID string
	// Target is the moment recovered to; zero replays all the WAL the
	// archive holds.
	Target time.Time
}

// Cluster is what the backups need of the control plane;
// *cluster.Cluster implements it.
type Cluster interface {
	PutRecord(ctx context.Context, kind, id string, value []byte) error
	Records(ctx context.Context, kind string) (map[string][]byte, error)
	// TryLockFor reserves key for ttl: a job's firing, for its window.
	TryLockFor(ctx context.Context, key, holder string, ttl time.Duration) (func(context.Context) error, error)
	// TryLock holds name as long as this node's session lives: a job's run.
	TryLock(ctx context.Context, name, holder string) (*cluster.Lock, error)
}

var _ Cluster = (*cluster.Cluster)(nil)

// Database is what the backups need of the stack's database: which
// member to take a base backup from, and the replication role's
// credentials to do it with. *pgha.Member and *pgha.Follower implement it.
type Database interface {
	Status() pgha.Status
	Credentials(ctx context.Context) (pgha.Credentials, error)
}

var (
	_ Database = (*pgha.Member)(nil)
	_ Database = (*pgha.Follower)(nil)
)
