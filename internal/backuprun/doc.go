// Package backuprun runs a stack's backups on one node.
//
// A [Runtime] is this node's part of the backups: the store and its
// repository, the WAL archiver a database member runs (PostgreSQL's
// archive_command and restore_command reach it through a Unix socket by
// running the tandem binary), the manager every node builds — the
// cluster cron may pick any node with PostgreSQL's programs to take a
// base backup or run a restore test — the jobs that do, and the loop that
// keeps this node's view of the backups current, takes the cluster's
// first base backup, publishes this node's state for the others and
// raises and clears the backup alarms. It serves the admin API's backups
// ([admin.Backups]) and the metrics' backup sample.
//
// Everything a Runtime needs from the rest of the node comes in through
// its [Options]: the cluster's records and locks, the database, the
// cluster's CA and the storage's buckets, as small interfaces and
// functions this package owns; it calls nothing back.
//
// Its files live in <data_dir>/backup: the WAL socket, the jobs' history,
// the connection files of pg_basebackup and the restore tests' scratch
// directories.
package backuprun
