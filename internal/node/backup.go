package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/backuprun"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/uptime"
)

// This file wires the stack's backups (the backup section) to the
// backuprun package's runtime: built with the node, opened once the
// cluster is (before the database, whose members archive through it).

// buildBackup builds the backups' runtime; none when the stack has no
// backup section. It touches no file.
func (n *Node) buildBackup() (err error) {
	sec := n.st.Backup
	if sec == nil {
		return nil
	}
	o := backuprun.Options{
		Config: backupConfig(sec), Node: n.st.Cluster.Node, DataDir: n.st.Cluster.DataDir,
		PostgresDataDir: filepath.Join(n.st.Cluster.DataDir, "postgres", "data"), // pgha keeps it in data/ of the member's directory
		Program:         n.program(),
		FileSets:        n.bucketSets(),
		Cluster:         n.cl,
		Database: func() backuprun.Database {
			if n.database == nil {
				return nil
			}
			return n.database.db
		},
		CA:      func() []byte { ca, _, _ := n.cl.TLSPEM(); return ca },
		Speaker: uptime.FirstOfView{Self: n.st.Cluster.Node, View: func() []string { return nodeNames(n.view.View()) }}.Leader,
		Alert:   n.alerts.Send,
		Logger:  n.log.With("part", "backup"),
	}
	if pg := n.postgres(); pg != nil {
		o.Members = pg.Members
		if bs := pg.Bootstrap; bs != nil {
			o.Bootstrap = &backuprun.Bootstrap{Target: bs.Target}
			if bs.FromBackup != config.BackupLatest {
				o.Bootstrap.BackupID = bs.FromBackup
			}
		}
	}
	if n.storage != nil {
		o.StoreBucket = n.storage.storage.StoreBucket
	}
	if n.backup, err = backuprun.New(o); err != nil {
		return err
	}
	return n.tel.metrics.WatchBackup(n.backup.Sample)
}

// openBackup opens the backups' runtime; it needs the cluster open.
func (n *Node) openBackup() error {
	if n.backup == nil {
		return nil
	}
	// The postgres user goes through data_dir to the WAL socket and the
	// restore tests' scratch directories.
	err := letThrough(n.st.Cluster.DataDir)
	if err == nil {
		err = n.backup.Open(n.started)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
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
