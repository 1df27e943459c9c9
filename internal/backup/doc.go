// Package backup keeps PostgreSQL and an app's files recoverable: it
// archives every finished WAL segment as PostgreSQL hands it over, streams
// base backups taken with pg_basebackup, restores a data directory to the
// latest point, a given backup or a given second, proves on a schedule that
// the newest backup restores, and deletes what retention no longer needs.
//
// Everything lives in one object store behind the small [Store] interface:
// a local directory ([LocalStore], the embedded default) or any
// S3-compatible endpoint ([S3Store]). A [Repository] lays the archive out in
// a store (wal/, backups/, files/) and encodes each object: zstd
// compression, optional client-side AES-256-GCM encryption, and a SHA-256
// of the stored bytes that every read checks, so a corrupted object is an
// error naming it, never data handed to PostgreSQL.
//
// PostgreSQL reaches the node through a Unix socket: archive_command and
// restore_command run a small client (tandem's `db wal-push` and `db
// wal-fetch`, see [PushWAL] and [FetchWAL]) that passes the file's bytes to
// the [Archiver] in the running node, so credentials and the handling of a
// store outage stay in one place.
package backup
