package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/atomicfile"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/pgha"
)

// This file wires the stack's backups (the backup section): the store,
// the WAL archiver every database member runs (PostgreSQL's
// archive_command and restore_command reach it through a Unix socket by
// running this binary), the manager every node builds, since the cluster
// cron may pick any node with PostgreSQL's programs to take a backup or
// run a restore test, and the loop that keeps every node's view current
// and raises the alarms.

// The backup part's files live in <data_dir>/backup: the WAL socket,
// the jobs' history, the connection files of pg_basebackup and the
// restore tests' scratch directories.
const (
	backupDirName = "backup"
	walSocketName = "wal.sock"
	// maxSocketPath is what a Unix socket's path may hold (sun_path).
	maxSocketPath = 107
)

// backupPart is the node's backups while it runs.
type backupPart struct {
	cfg      backup.Config
	dir      string // <data_dir>/backup
	socket   string // the WAL socket
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
	alarms           *backupAlarms
	peers            backupPeers // the other nodes' published state
	log              *slog.Logger

	mu      sync.Mutex       // guards lastRun
	lastRun *admin.BackupRun // this node's last backup job
}

// openBackup builds the backup part: the store, the archiver of a
// database member, the manager and the jobs. A stack without a backup
// section opens nothing. It runs before openDatabase, whose member
// archives through it.
func (n *Node) openBackup() (err error) {
	sec := n.st.Backup
	if sec == nil {
		return nil
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("backup: %w", err)
		}
	}()
	cfg := backupConfig(sec)
	if ps := cfg.Validate(); len(ps) > 0 {
		return fmt.Errorf("backup.%s: %s", ps[0].Path, ps[0].Msg) // config checked it: a disagreement
	}
	b := &backupPart{cfg: cfg, dir: filepath.Join(n.st.Cluster.DataDir, backupDirName), log: n.log.With("part", "backup")}
	b.socket = filepath.Join(b.dir, walSocketName)
	if len(b.socket) > maxSocketPath {
		return fmt.Errorf("the WAL socket's path %s is longer than a Unix socket's %d bytes: choose a shorter cluster.data_dir", b.socket, maxSocketPath)
	}
	if err := b.makeDirs(n.st.Cluster.DataDir); err != nil {
		return err
	}
	if b.repo, err = openRepository(cfg); err != nil {
		return err
	}
	pg, pgErr := backup.FindPostgres()
	b.pg = pg
	member := n.postgres() != nil && slices.Contains(n.postgres().Members, n.st.Cluster.Node)
	if member {
		if pgErr != nil {
			return pgErr
		}
		if b.archiver, err = backup.NewArchiver(backup.ArchiverOptions{Repository: b.repo, Socket: b.socket,
			AllowUIDs: []int{pg.UID}, DataDir: n.memberDataDir, Logger: b.log}); err != nil {
			return err
		}
	}
	b.every, b.testEvery = cron.LongestInterval(cfg.Schedule), cron.LongestInterval(cfg.RestoreTest.Schedule)
	if b.mgr, err = backup.New(n.managerOptions(b, pg)); err != nil {
		return err
	}
	b.alarms = newBackupAlarms(n.alerts, b.log)
	switch {
	case n.postgres() != nil && pgErr != nil:
		b.noJobs = fmt.Errorf("this node cannot take base backups: %w", pgErr)
		b.log.Info("base backups and restore tests run on the other nodes", "reason", pgErr)
	default:
		b.jobs, err = n.newBackupJobs(b)
	}
	if err != nil {
		return err
	}
	n.backup = b
	return nil
}

// makeDirs makes <data_dir>/backup and what it holds. The postgres user
// goes through data_dir and backup/ to the socket and the scratch
// directories, and lists neither.
func (b *backupPart) makeDirs(dataDir string) error {
	if err := letThrough(dataDir); err != nil {
		return err
	}
	for _, d := range []string{b.dir, filepath.Join(b.dir, "scratch")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(b.dir, "jobs"), 0o700)
}

// backupConfig maps the stack file's section onto the backup package's.
func backupConfig(s *config.Backup) backup.Config {
	c := backup.Config{
		Local: s.Local, EncryptionKey: s.EncryptionKey, Schedule: s.Schedule,
		Retention:      backup.RetentionConfig{Backups: s.Retention.Backups, For: time.Duration(s.Retention.For)},
		ArchiveTimeout: time.Duration(s.ArchiveTimeout),
		RestoreTest:    backup.RestoreTestConfig{Schedule: s.RestoreTest.Schedule, Query: s.RestoreTest.Query, Check: slices.Clone(s.RestoreTest.Check)},
	}
	if s3 := s.S3; s3 != nil {
		c.S3 = &backup.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix, Region: s3.Region, PathStyle: s3.PathStyle,
			CAFile: s3.CAFile, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, SessionToken: s3.SessionToken}
	}
	if len(s.Files) > 0 {
		c.Files = make(map[string]backup.FileConfig, len(s.Files))
		for name, f := range s.Files {
			c.Files[name] = backup.FileConfig{Dir: f.Dir, SQLite: f.SQLite}
		}
	}
	return c
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
func (n *Node) managerOptions(b *backupPart, pg backup.Postgres) backup.Options {
	c := b.cfg
	o := backup.Options{
		Repository: b.repo, Postgres: pg, Archiver: b.archiver,
		BackupEvery: b.every,
		ScratchDir:  filepath.Join(b.dir, "scratch"),
		Command:     n.program(),
		SanityQuery: c.RestoreTest.Query, CheckCommand: c.RestoreTest.Check,
		Retention: backup.Retention{KeepBackups: c.Retention.Backups, KeepFor: c.Retention.For},
		Files:     append(c.FileSets(), n.bucketSets()...),
		Logger:    b.log,
	}
	if n.postgres() != nil {
		o.Source = n.backupSource
	}
	return o
}

// bucketSets are the apps' buckets of the storage section, each a file
// set of the backups (storage:<app>): in the store the apps write to, not
// the replica, which is a copy of it.
func (n *Node) bucketSets() []backup.FileSet {
	if n.storage == nil {
		return nil
	}
	var out []backup.FileSet
	for _, p := range n.storage.storage.Pairs() {
		out = append(out, backup.FileSet{Name: backup.BucketSetName(p.App), Bucket: p.Store})
	}
	return out
}

// program is the command that runs this tandem binary, for PostgreSQL's
// archive_command and restore_command.
func (n *Node) program() []string {
	if len(n.opts.Program) > 0 {
		return n.opts.Program
	}
	if n.opts.Keeper != "" {
		return []string{n.opts.Keeper}
	}
	exe, err := os.Executable()
	if err != nil {
		return []string{"tandem"} // from PATH; the archiver's failures will say if it is not there
	}
	return []string{exe}
}

// memberDataDir is this node's PostgreSQL data directory (pgha keeps it in
// data/ of the member's directory).
func (n *Node) memberDataDir() string {
	return filepath.Join(n.st.Cluster.DataDir, "postgres", "data")
}

// archiveMember sets a database member's archiving: archive_mode always,
// archive_command and restore_command through the WAL socket,
// archive_timeout; and, with database.postgres.bootstrap, the restore a
// new cluster starts from.
func (n *Node) archiveMember(o *pgha.Options) {
	b := n.backup
	if b == nil {
		return
	}
	s := b.cfg.PostgresSettings(n.program(), b.socket)
	o.Archive = pgha.Archive{Mode: s["archive_mode"], Command: s["archive_command"], Timeout: b.cfg.ArchiveTimeout,
		RestoreCommand: s["restore_command"]}
	if bs := n.postgres().Bootstrap; bs != nil {
		o.Bootstrap = func(ctx context.Context, dir string) error {
			ro := backup.RestoreOptions{Dir: dir, Time: bs.Target, Socket: b.socket, Bootstrap: true}
			if bs.FromBackup != config.BackupLatest {
				ro.BackupID = bs.FromBackup
			}
			res, err := b.mgr.Restore(ctx, ro)
			if err == nil {
				b.log.Info("cluster bootstrapped from a backup", "backup", res.Backup.ID, "target", res.Target)
			}
			return err
		}
	}
}

// backupSource is the member a base backup is taken from: a streaming
// standby when there is one (sparing the primary), else the primary; as
// the replication role, over TLS verified against the cluster's CA.
func (n *Node) backupSource(ctx context.Context) (name, conn string, err error) {
	d := n.database
	if d == nil {
		return "", "", errors.New("the database is not open yet")
	}
	m, ok := d.db.Status().BackupSource()
	if !ok {
		return "", "", errors.New("no running primary or streaming standby")
	}
	creds, err := d.db.Credentials(ctx)
	if err != nil {
		return "", "", fmt.Errorf("the replication role's credentials: %w", err)
	}
	connDir := filepath.Join(n.backup.dir, "conn")
	ca, _, _ := n.cl.TLSPEM()
	if err := n.backup.writeConnFiles(connDir, ca, creds.Replication); err != nil {
		return "", "", err
	}
	host, port, _ := strings.Cut(m.Addr, ":")
	return m.Name, fmt.Sprintf("host=%s port=%s user=%s passfile=%s sslmode=verify-ca sslrootcert=%s application_name=tandem-backup connect_timeout=10",
		host, port, creds.Replication.User, filepath.Join(connDir, "pgpass"), filepath.Join(connDir, "ca.crt")), nil
}

// writeConnFiles writes what pg_basebackup, run as the postgres user,
// needs to reach a member: the cluster's CA and a passfile.
func (b *backupPart) writeConnFiles(dir string, ca []byte, role pgha.Role) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(dir, b.pg.UID, b.pg.GID); err != nil {
		return err
	}
	esc := strings.NewReplacer(`\`, `\\`, ":", `\:`)
	files := map[string][]byte{
		"ca.crt": ca,
		"pgpass": []byte(fmt.Sprintf("*:*:*:%s:%s\n", esc.Replace(role.User), esc.Replace(role.Password))),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := atomicfile.Write(p, data, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, b.pg.UID, b.pg.GID); err != nil {
			return err
		}
	}
	return nil
}

// run starts the backup part's goroutines.
func (b *backupPart) run(p *parts, watch func(context.Context) error) {
	if b.archiver != nil {
		// As long as PostgreSQL runs: it archives and restores through it.
		p.run("wal archiver", b.archiver.Run)
	}
	if b.jobs != nil {
		p.runEarly("backup jobs", b.jobs.Run)
	}
	p.runEarly("backup watch", watch)
}
