package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var (
	ErrNotFound     = errors.New("not found")
	ErrEditConflict = errors.New("page changed since the edit began")
	ErrExists       = errors.New("already exists")
)

// Store is the wiki's data in one SQLite file. Several processes may open
// the same file at once: the file is in WAL mode (readers never wait for the
// writer), every write transaction is BEGIN IMMEDIATE (it takes the write
// lock up front instead of failing on upgrade), and a busy connection waits
// up to 5s for the lock instead of failing.
type Store struct {
	db *sql.DB
}

// Revision is one saved version of a page.
type Revision struct {
	ID      int64
	Title   string // canonical form, see canonicalTitle
	Body    string
	Author  string
	Comment string
	Created time.Time
}

// Edit is a request to save a new revision. BaseRev is the revision the
// editor started from (0 for a new page); if the page has moved on since,
// SavePage refuses with ErrEditConflict rather than lose the other edit.
type Edit struct {
	Title, Body, Author, Comment string
	BaseRev                      int64
}

// Session is a logged-in user. Token is the cookie value and is known only
// when the session is created; the database keeps its hash.
type Session struct {
	Token    string
	Username string
	CSRF     string
	Expires  time.Time
}

// File is an uploaded file's metadata; its bytes are in the upload
// directory under SHA256.
type File struct {
	Name        string
	SHA256      string
	ContentType string
	Size        int64
	UploadedBy  string
	Created     time.Time
}

// OpenStore opens (creating if needed) the SQLite database at path. It does
// not migrate; call Migrate.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	dsn := path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := pingBusy(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// openBusyTimeout bounds how long OpenStore waits for other processes
// opening the same new file; it matches the connection's busy_timeout.
const openBusyTimeout = 5 * time.Second

// pingBusy opens the first connection, retrying while SQLite reports the
// file busy. Switching a new file to WAL takes an exclusive lock, and SQLite
// answers SQLITE_BUSY at once instead of calling the busy handler when
// another process holds it, as when several instances start together on a
// fresh database. Any other error is returned as it is.
func pingBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(openBusyTimeout)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 5
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := filepath.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate brings the schema up to date and reports the versions before and
// after. It is idempotent and safe to run from several processes at once:
// the whole run is one BEGIN IMMEDIATE transaction, so one migrator holds
// the write lock while the others wait, then find nothing left to do.
// A schema newer than this binary knows is left alone.
func (s *Store) Migrate(ctx context.Context) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL)`); err != nil {
		return 0, 0, fmt.Errorf("migrate: create schema_version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	to = from
	for _, m := range ms {
		if m.version <= from {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return 0, 0, fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().Unix()); err != nil {
			return 0, 0, fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
		to = m.version
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("migrate: commit: %w", err)
	}
	return from, to, nil
}

const revisionColumns = "id, title, body, author, comment, created_at"

func scanRevision(row interface{ Scan(...any) error }) (Revision, error) {
	var r Revision
	var created int64
	err := row.Scan(&r.ID, &r.Title, &r.Body, &r.Author, &r.Comment, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Revision{}, ErrNotFound
	}
	r.Created = time.Unix(created, 0).UTC()
	return r, err
}

// Page returns the latest revision of the page titled title.
func (s *Store) Page(ctx context.Context, title string) (Revision, error) {
	r, err := scanRevision(s.db.QueryRowContext(ctx, "SELECT "+revisionColumns+
		" FROM revisions WHERE id = (SELECT rev_id FROM pages WHERE title = ?)", title))
	if err != nil {
		return Revision{}, fmt.Errorf("read page %q: %w", title, err)
	}
	return r, nil
}

// Revision returns revision id of the page titled title.
func (s *Store) Revision(ctx context.Context, title string, id int64) (Revision, error) {
	r, err := scanRevision(s.db.QueryRowContext(ctx, "SELECT "+revisionColumns+
		" FROM revisions WHERE id = ? AND title = ?", id, title))
	if err != nil {
		return Revision{}, fmt.Errorf("read revision %d of %q: %w", id, title, err)
	}
	return r, nil
}

// History returns up to limit revisions of a page, newest first. The
// bodies are left empty.
func (s *Store) History(ctx context.Context, title string, limit int) ([]Revision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, title, '', author, comment, created_at
		FROM revisions WHERE title = ? ORDER BY id DESC LIMIT ?`, title, limit)
	if err != nil {
		return nil, fmt.Errorf("read history of %q: %w", title, err)
	}
	return collectRevisions(rows)
}

// Pages returns the latest revision of every page, by title, bodies empty.
func (s *Store) Pages(ctx context.Context) ([]Revision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.title, '', r.author, r.comment, r.created_at
		FROM pages p JOIN revisions r ON r.id = p.rev_id ORDER BY p.title`)
	if err != nil {
		return nil, fmt.Errorf("list pages: %w", err)
	}
	return collectRevisions(rows)
}

func collectRevisions(rows *sql.Rows) ([]Revision, error) {
	defer rows.Close()
	var rs []Revision
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// LastChange returns the newest revision id in the wiki and when it was
// saved (0 and the zero time for an empty wiki): a version for the index.
func (s *Store) LastChange(ctx context.Context) (int64, time.Time, error) {
	var id, created int64
	err := s.db.QueryRowContext(ctx,
		"SELECT COALESCE(MAX(id), 0), COALESCE(MAX(created_at), 0) FROM revisions").Scan(&id, &created)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read last change: %w", err)
	}
	if id == 0 {
		return 0, time.Time{}, nil
	}
	return id, time.Unix(created, 0).UTC(), nil
}

// SavePage stores e as the page's newest revision.
func (s *Store) SavePage(ctx context.Context, e Edit) (Revision, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Revision{}, fmt.Errorf("save page %q: %w", e.Title, err)
	}
	defer tx.Rollback()

	var cur int64
	err = tx.QueryRowContext(ctx, "SELECT rev_id FROM pages WHERE title = ?", e.Title).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Revision{}, fmt.Errorf("save page %q: %w", e.Title, err)
	}
	if cur != e.BaseRev {
		return Revision{}, fmt.Errorf("save page %q: %w", e.Title, ErrEditConflict)
	}
	rev := Revision{Title: e.Title, Body: e.Body, Author: e.Author, Comment: e.Comment,
		Created: time.Now().UTC().Truncate(time.Second)}
	res, err := tx.ExecContext(ctx, `INSERT INTO revisions (title, body, author, comment, created_at)
		VALUES (?, ?, ?, ?, ?)`, rev.Title, rev.Body, rev.Author, rev.Comment, rev.Created.Unix())
	if err == nil {
		rev.ID, err = res.LastInsertId()
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO pages (title, rev_id) VALUES (?, ?)
			ON CONFLICT (title) DO UPDATE SET rev_id = excluded.rev_id`, rev.Title, rev.ID)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return Revision{}, fmt.Errorf("save page %q: %w", e.Title, err)
	}
	return rev, nil
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error; crashes the program if it could
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateSession starts a session for username lasting ttl, and drops
// sessions that have expired.
func (s *Store) CreateSession(ctx context.Context, username string, ttl time.Duration) (Session, error) {
	now := time.Now()
	sess := Session{Token: randomToken(), Username: username, CSRF: randomToken(),
		Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", now.Unix()); err != nil {
		return Session{}, fmt.Errorf("create session: expire old: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, username, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, hashToken(sess.Token), username, sess.CSRF, now.Unix(), sess.Expires.Unix()); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// Session returns the live session whose cookie value is token, or
// ErrNotFound.
func (s *Store) Session(ctx context.Context, token string) (Session, error) {
	sess := Session{Token: token}
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT username, csrf, expires_at FROM sessions
		WHERE token_hash = ? AND expires_at > ?`, hashToken(token), time.Now().Unix()).
		Scan(&sess.Username, &sess.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.Expires = time.Unix(expires, 0).UTC()
	return sess, nil
}

// DeleteSession ends the session whose cookie value is token. Ending a
// session that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", hashToken(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AddFile records an uploaded file; ErrExists if the name is taken.
func (s *Store) AddFile(ctx context.Context, f File) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO files (name, sha256, content_type, size, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		f.Name, f.SHA256, f.ContentType, f.Size, f.UploadedBy, f.Created.Unix())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return fmt.Errorf("add file %q: %w", f.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("add file %q: %w", f.Name, ErrExists)
	}
	return nil
}

const fileColumns = "name, sha256, content_type, size, uploaded_by, created_at"

func scanFile(row interface{ Scan(...any) error }) (File, error) {
	var f File
	var created int64
	err := row.Scan(&f.Name, &f.SHA256, &f.ContentType, &f.Size, &f.UploadedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, ErrNotFound
	}
	f.Created = time.Unix(created, 0).UTC()
	return f, err
}

// File returns the metadata of the file called name.
func (s *Store) File(ctx context.Context, name string) (File, error) {
	f, err := scanFile(s.db.QueryRowContext(ctx, "SELECT "+fileColumns+" FROM files WHERE name = ?", name))
	if err != nil {
		return File{}, fmt.Errorf("read file %q: %w", name, err)
	}
	return f, nil
}

// Files returns every uploaded file, newest first.
func (s *Store) Files(ctx context.Context) ([]File, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+fileColumns+" FROM files ORDER BY created_at DESC, name")
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	var files []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("list files: %w", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return files, nil
}
