package admin

import (
	"context"
	"net/http"
	"time"
)

// Backups is what the backup endpoints need of the node: the state of
// the stack's backups, a base backup taken now, and a restore.
type Backups interface {
	// Status is the node's view of the backups, without I/O: for
	// GET /v1/status, the status page and the alarms.
	Status() BackupStatus
	// List reads the store: every backup, the WAL archive, the file sets.
	List(ctx context.Context) (BackupList, error)
	// Backup takes a base backup and the file sets now, on this node, and
	// returns once it has ended.
	Backup(ctx context.Context) (BackupRun, error)
	// Restore restores a copy of the database into a new directory of this
	// node and runs its recovery to the target.
	Restore(ctx context.Context, req RestoreRequest) (RestoreResult, error)
}

// BackupStatus is the backups as a node sees them: its part in the
// answer to GET /v1/status.
type BackupStatus struct {
	Store     string `json:"store"` // a directory, or s3://bucket/prefix
	Encrypted bool   `json:"encrypted"`
	// Schedule and TestSchedule are the base backups' and the restore
	// tests' (cron syntax); NextBackup and NextTest their next firings,
	// zero on a node that does not run them.
	Schedule     string    `json:"schedule"`
	TestSchedule string    `json:"test_schedule,omitempty"`
	NextBackup   time.Time `json:"next_backup,omitzero"`
	NextTest     time.Time `json:"next_test,omitzero"`
	// LastBackup is the cluster's last successful base backup; nil
	// before the first. Overdue: none succeeded within its schedule.
	LastBackup *BackupInfo `json:"last_backup,omitempty"`
	Overdue    bool        `json:"overdue"`
	// LastFailure is why this node's last attempt failed, if it did.
	LastFailure   string    `json:"last_failure,omitempty"`
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	// LastTest is the cluster's last restore test; nil before the first.
	LastTest *RestoreTestInfo `json:"last_test,omitempty"`
	// Archive is this node's WAL archiver; nil on a node that runs no
	// PostgreSQL member.
	Archive *ArchiveInfo `json:"archive,omitempty"`
	// Alarms are the backup alarms raised now: this node's, and those
	// the others published within the last minute.
	Alarms []BackupAlarm `json:"alarms"`
}

// BackupInfo describes one base backup.
type BackupInfo struct {
	ID          string        `json:"id"`
	Source      string        `json:"source"` // the server it was taken from
	Timeline    uint32        `json:"timeline"`
	Started     time.Time     `json:"started"`
	Finished    time.Time     `json:"finished"` // a restore to a time needs a backup that finished before it
	Took        time.Duration `json:"took"`
	StartLSN    string        `json:"start_lsn"`
	StopLSN     string        `json:"stop_lsn"`
	StartWAL    string        `json:"start_wal"` // the first WAL segment a restore of it needs
	DataBytes   int64         `json:"data_bytes"`
	StoredBytes int64         `json:"stored_bytes"`
	Encrypted   bool          `json:"encrypted"`
}

// RestoreTestInfo is the outcome of a restore test.
type RestoreTestInfo struct {
	ID       string        `json:"id"`
	Started  time.Time     `json:"started"`
	Took     time.Duration `json:"took"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
	BackupID string        `json:"backup_id,omitempty"`
	Bytes    int64         `json:"bytes"`
	LSN      string        `json:"lsn,omitempty"`
	// LastCommit is the newest transaction restored: the restored point;
	// Lag how far it was behind the test's start.
	LastCommit time.Time     `json:"last_commit,omitzero"`
	Lag        time.Duration `json:"lag"`
	Sanity     string        `json:"sanity,omitempty"`
	Check      string        `json:"check,omitempty"`
	Files      []string      `json:"files,omitempty"`
}

// ArchiveInfo is a node's WAL archiver.
type ArchiveInfo struct {
	Node           string    `json:"node,omitempty"`
	LastArchived   string    `json:"last_archived,omitempty"`
	LastArchivedAt time.Time `json:"last_archived_at,omitzero"`
	Archived       int64     `json:"archived"`
	Failures       int64     `json:"failures"`
	FailingSince   time.Time `json:"failing_since,omitzero"`
	LastFailure    string    `json:"last_failure,omitempty"`
	Conflicts      int64     `json:"conflicts"`
	// WALWaiting and WALWaitingBytes: segments PostgreSQL marked ready
	// and not yet archived; DiskFree: bytes left on pg_wal's file system.
	// Each is -1 when not known.
	WALWaiting      int       `json:"wal_waiting"`
	WALWaitingBytes int64     `json:"wal_waiting_bytes"`
	DiskFree        int64     `json:"disk_free"`
	StoreReachable  bool      `json:"store_reachable"`
	StoreError      string    `json:"store_error,omitempty"`
	CheckedAt       time.Time `json:"checked_at,omitzero"`
}

// BackupAlarm is a backup alarm raised on a node.
type BackupAlarm struct {
	Name    string    `json:"name"`           // archive-failing, archive-lag, store-unreachable, backup-overdue, restore-test-failed
	Node    string    `json:"node,omitempty"` // the node that raised it
	Since   time.Time `json:"since"`
	Message string    `json:"message"`
}

// BackupList is the answer to GET /v1/db/backups: what the store holds.
type BackupList struct {
	Node  string `json:"node"` // the node that read it
	Store string `json:"store"`
	// Backups are the complete base backups, oldest first.
	Backups []BackupInfo `json:"backups"`
	// Unreadable are backups whose description could not be read.
	Unreadable []string     `json:"unreadable,omitempty"`
	WAL        WALSummary   `json:"wal"`
	Files      []FileSetSum `json:"files,omitempty"`
	// StoredBytes is everything above, as stored.
	StoredBytes int64            `json:"stored_bytes"`
	LastTest    *RestoreTestInfo `json:"last_test,omitempty"`
	// Archive is the answering node's archiver; nil on a node without.
	Archive *ArchiveInfo `json:"archive,omitempty"`
	// Archivers are every database member's, by name: the answering
	// node's now, the others' as they last published them (CheckedAt).
	Archivers     []ArchiveInfo  `json:"archivers,omitempty"`
	LastRetention *RetentionInfo `json:"last_retention,omitempty"`
	Alarms        []BackupAlarm  `json:"alarms"`
}

// WALSummary is the WAL archive: its segments by timeline, and the files
// a restore across timelines follows.
type WALSummary struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// First and Last are the oldest and newest segments archived.
	First     string   `json:"first,omitempty"`
	Last      string   `json:"last,omitempty"`
	Timelines []uint32 `json:"timelines"`
	Histories int      `json:"histories"` // timeline history files
	Partials  int      `json:"partials"`  // the last, unfinished segments of old timelines
}

// FileSetSum is one of the app's file sets in the store.
type FileSetSum struct {
	Set         string    `json:"set"`
	Kind        string    `json:"kind,omitempty"` // of the newest snapshot: dir, sqlite or bucket
	Snapshots   int       `json:"snapshots"`
	Last        time.Time `json:"last,omitzero"`
	Files       int       `json:"files"` // of the newest snapshot; a bucket's objects
	Bytes       int64     `json:"bytes"`
	Copied      int       `json:"copied,omitempty"` // a bucket's objects the newest snapshot read; it shares the others
	StoredBytes int64     `json:"stored_bytes"`     // of every snapshot
	// LeftOut are a bucket's objects the newest snapshot could not store,
	// damaged in the store, with the cause.
	LeftOut []string `json:"left_out,omitempty"`
}

// RetentionInfo is what the last retention pass did.
type RetentionInfo struct {
	At           time.Time `json:"at"`
	Kept         int       `json:"kept"`
	Deleted      int       `json:"deleted"`
	DeletedBytes int64     `json:"deleted_bytes"`
	WALDeleted   int       `json:"wal_deleted"`
	OldestWAL    string    `json:"oldest_wal,omitempty"`
}

// BackupRun is the answer to POST /v1/db/backups: one base backup and
// the file sets, taken now.
type BackupRun struct {
	Node     string         `json:"node"`
	Started  time.Time      `json:"started"`
	Took     time.Duration  `json:"took"`
	OK       bool           `json:"ok"`
	Errors   []string       `json:"errors,omitempty"`
	Backup   *BackupInfo    `json:"backup,omitempty"` // nil when it failed or the stack has no database
	Files    []FileSetSum   `json:"files,omitempty"`  // the snapshots taken
	Retained *RetentionInfo `json:"retention,omitempty"`
}

// RestoreRequest is the body of POST /v1/db/restore.
type RestoreRequest struct {
	// Dir is the new data directory on the node: absolute, absent or
	// empty.
	Dir string `json:"dir"`
	// Backup restores that backup; "" the newest that fits Time.
	Backup string `json:"backup,omitempty"`
	// Time is the moment to recover to; zero replays the whole archive.
	Time time.Time `json:"time,omitzero"`
	// Files restores the app's file set of that name instead of the
	// database: the snapshot Backup names, or the newest; Time does not
	// apply.
	Files string `json:"files,omitempty"`
	// IntoBucket, with Files naming an app's bucket (storage:<app>),
	// restores its snapshot into this bucket of the storage's store
	// instead of Dir, which is then empty: the objects it lacks are
	// written, those it holds left as they are.
	IntoBucket string `json:"into_bucket,omitempty"`
}

// RestoreResult is its answer: a copy of the database in Dir, recovered
// to the target and stopped, which never archives.
type RestoreResult struct {
	Node   string     `json:"node"`
	Dir    string     `json:"dir"`
	Backup BackupInfo `json:"backup"`
	Target time.Time  `json:"target,omitzero"`
	// LSN, LastCommit and Timeline are where the recovery ended: the
	// newest transaction restored and the copy's new timeline.
	LSN        string        `json:"lsn"`
	LastCommit time.Time     `json:"last_commit,omitzero"`
	Timeline   uint32        `json:"timeline"`
	Bytes      int64         `json:"bytes"`
	Took       time.Duration `json:"took"`
	Settings   []string      `json:"settings"` // what the restore wrote in postgresql.auto.conf
	// Files is the file set snapshot restored, when the request named a
	// set; the fields above are then empty.
	Files *FileSnapshotInfo `json:"files,omitempty"`
	// Bucket is the bucket restored into, with IntoBucket; Dir is then
	// empty.
	Bucket string `json:"bucket,omitempty"`
}

// FileSnapshotInfo describes one snapshot of a file set.
type FileSnapshotInfo struct {
	Set   string    `json:"set"`
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`  // dir, sqlite or bucket
	Files int       `json:"files"` // a bucket's objects
	Bytes int64     `json:"bytes"`
	// Skipped are the entries not stored: symbolic links, sockets,
	// devices; a bucket's objects damaged in the store, or (in a restore's
	// answer) whose keys are no file names, each with its cause.
	Skipped []string `json:"skipped,omitempty"`
}

func (s *Server) registerBackups(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/db/backups", s.backupList)
	mux.HandleFunc("POST /v1/db/backups", s.backupRun)
	mux.HandleFunc("POST /v1/db/restore", s.restore)
}

func (s *Server) backups(w http.ResponseWriter) Backups {
	if s.opts.Backups == nil {
		writeErr(w, Errorf(ErrNotFound, "the stack has no backups (backup section)"))
	}
	return s.opts.Backups
}

func (s *Server) backupList(w http.ResponseWriter, r *http.Request) {
	if b := s.backups(w); b != nil {
		l, err := b.List(r.Context())
		writeResult(w, l, err)
	}
}

func (s *Server) backupRun(w http.ResponseWriter, r *http.Request) {
	if b := s.backups(w); b != nil {
		run, err := b.Backup(r.Context())
		writeResult(w, run, err)
	}
}

func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	b := s.backups(w)
	var req RestoreRequest
	if b == nil || !readJSON(w, r, &req) {
		return
	}
	res, err := b.Restore(r.Context(), req)
	writeResult(w, res, err)
}

// Backups lists what the node's backup store holds.
func (c *Client) Backups(ctx context.Context) (BackupList, error) {
	var l BackupList
	err := c.call(ctx, http.MethodGet, "/v1/db/backups", nil, &l)
	return l, err
}

// Backup takes a base backup (and the file sets) now and waits until it
// has ended.
func (c *Client) Backup(ctx context.Context) (BackupRun, error) {
	var run BackupRun
	err := c.call(ctx, http.MethodPost, "/v1/db/backups", struct{}{}, &run)
	return run, err
}

// Restore restores a copy of the database into a new directory of the
// node and waits until its recovery reached the target.
func (c *Client) Restore(ctx context.Context, req RestoreRequest) (RestoreResult, error) {
	var res RestoreResult
	err := c.call(ctx, http.MethodPost, "/v1/db/restore", req, &res)
	return res, err
}
