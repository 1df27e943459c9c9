package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*/*.sql
var migrationFiles embed.FS

var (
	ErrNotFound     = errors.New("not found")
	ErrEditConflict = errors.New("page changed since the edit began")
	ErrExists       = errors.New("already exists")
)

// dialect is the SQL database a Store speaks to.
type dialect string

const (
	sqliteDialect   dialect = "sqlite"
	postgresDialect dialect = "postgres"
)

// Store is the wiki's data in one SQL database: an SQLite file by default
// (OpenStore), or PostgreSQL (OpenPostgres), with the same schema and the
// same behaviour. On PostgreSQL every operation is retried while the
// database fails over (see pgRetryable), and every write is safe to retry
// even when the first try's commit may have happened.
type Store struct {
	db      *sql.DB
	dialect dialect
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
// Key identifies the save: SavePage generates one when it is "".
type Edit struct {
	Title, Body, Author, Comment string
	BaseRev                      int64
	Key                          string
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error { return s.db.Close() }

// q adapts a query written with ? placeholders to the dialect.
func (s *Store) q(query string) string {
	if s.dialect == postgresDialect {
		return rebind(query)
	}
	return query
}

// retry runs op, again while it fails the way a failover makes it fail.
// SQLite needs no retries: a busy file is waited on by SQLite itself.
func (s *Store) retry(ctx context.Context, op func(context.Context) error) error {
	if s.dialect != postgresDialect {
		return op(ctx)
	}
	return retry(ctx, pgRetryable, op)
}

// Shared reports whether the database is a server every instance shares
// (PostgreSQL), rather than a file of this instance's (SQLite).
func (s *Store) Shared() bool { return s.dialect == postgresDialect }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	return s.retry(ctx, func(ctx context.Context) error {
		var one int
		return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the migrations of a dialect, by version.
func migrations(d dialect) ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/"+string(d)+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
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
// the whole run is one transaction that first takes the database's write
// lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock), so one
// migrator works while the others wait, then find nothing left to do.
// A schema newer than this binary knows is left alone.
func (s *Store) Migrate(ctx context.Context) (from, to int, err error) {
	ms, err := migrations(s.dialect)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		if v, ok := s.current(ctx, ms); ok {
			from, to = v, v
			return nil
		}
		from, to, err = s.migrate(ctx, ms)
		return err
	})
	return from, to, err
}

// current reports the schema's version when it needs no migration, found
// without writing: an instance on a read-only standby (a follower site
// serving reads) starts on a schema the primary's release phase made.
func (s *Store) current(ctx context.Context, ms []migration) (int, bool) {
	var v int
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&v); err != nil {
		return 0, false // no schema yet, or the database is not there: migrate says which
	}
	return v, len(ms) == 0 || v >= ms[len(ms)-1].version
}

func (s *Store) migrate(ctx context.Context, ms []migration) (from, to int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == postgresDialect {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", pgMigrateLock); err != nil {
			return 0, 0, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT  NOT NULL)`); err != nil {
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
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"),
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

func scanRevision(row scanner) (Revision, error) {
	var r Revision
	var created int64
	err := row.Scan(&r.ID, &r.Title, &r.Body, &r.Author, &r.Comment, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Revision{}, ErrNotFound
	}
	r.Created = time.Unix(created, 0).UTC()
	return r, err
}

// scanner is a row of a query: *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryOne reads the one row a query returns with scan, retried as a
// whole through a failover.
func queryOne[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var v T
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		v, err = scan(s.db.QueryRowContext(ctx, s.q(query), args...))
		return err
	})
	return v, err
}

// queryAll reads every row a query returns with scan, retried as a whole
// through a failover.
func queryAll[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var all []T
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		all = nil
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			all = append(all, v)
		}
		return rows.Err()
	})
	return all, err
}

// Page returns the latest revision of the page titled title.
func (s *Store) Page(ctx context.Context, title string) (Revision, error) {
	r, err := queryOne(ctx, s, scanRevision, "SELECT "+revisionColumns+
		" FROM revisions WHERE id = (SELECT rev_id FROM pages WHERE title = ?)", title)
	if err != nil {
		return Revision{}, fmt.Errorf("read page %q: %w", title, err)
	}
	return r, nil
}

// Revision returns revision id of the page titled title.
func (s *Store) Revision(ctx context.Context, title string, id int64) (Revision, error) {
	r, err := queryOne(ctx, s, scanRevision, "SELECT "+revisionColumns+" FROM revisions WHERE id = ? AND title = ?", id, title)
	if err != nil {
		return Revision{}, fmt.Errorf("read revision %d of %q: %w", id, title, err)
	}
	return r, nil
}

// History returns up to limit revisions of a page, newest first. The
// bodies are left empty.
func (s *Store) History(ctx context.Context, title string, limit int) ([]Revision, error) {
	rs, err := queryAll(ctx, s, scanRevision, `SELECT id, title, '', author, comment, created_at
		FROM revisions WHERE title = ? ORDER BY id DESC LIMIT ?`, title, limit)
	if err != nil {
		return nil, fmt.Errorf("read history of %q: %w", title, err)
	}
	return rs, nil
}

// Pages returns the latest revision of every page, by title, bodies empty.
func (s *Store) Pages(ctx context.Context) ([]Revision, error) {
	rs, err := queryAll(ctx, s, scanRevision, `SELECT r.id, r.title, '', r.author, r.comment, r.created_at
		FROM pages p JOIN revisions r ON r.id = p.rev_id ORDER BY p.title`)
	if err != nil {
		return nil, fmt.Errorf("list pages: %w", err)
	}
	return rs, nil
}

// LastChange returns the newest revision id in the wiki and when it was
// saved (0 and the zero time for an empty wiki): a version for the index.
func (s *Store) LastChange(ctx context.Context) (int64, time.Time, error) {
	var id, created int64
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx,
			"SELECT COALESCE(MAX(id), 0), COALESCE(MAX(created_at), 0) FROM revisions").Scan(&id, &created)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read last change: %w", err)
	}
	if id == 0 {
		return 0, time.Time{}, nil
	}
	return id, time.Unix(created, 0).UTC(), nil
}

// SavePage stores e as the page's newest revision. A save is one
// transaction that moves the page from BaseRev to the new revision only if
// it is still at BaseRev. Retried after its outcome was lost, it finds
// the revision its key left, if its commit happened, and returns it.
func (s *Store) SavePage(ctx context.Context, e Edit) (Revision, error) {
	if e.Key == "" {
		e.Key = randomToken()
	}
	var rev Revision
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		rev, err = s.savePage(ctx, e)
		return err
	})
	if err != nil {
		return Revision{}, fmt.Errorf("save page %q: %w", e.Title, err)
	}
	return rev, nil
}

func (s *Store) savePage(ctx context.Context, e Edit) (Revision, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Revision{}, err
	}
	defer tx.Rollback()
	done, err := scanRevision(tx.QueryRowContext(ctx, s.q("SELECT "+revisionColumns+" FROM revisions WHERE edit_key = ?"), e.Key))
	if err == nil {
		return done, nil // an earlier try committed
	}
	if !errors.Is(err, ErrNotFound) {
		return Revision{}, err
	}
	rev := Revision{Title: e.Title, Body: e.Body, Author: e.Author, Comment: e.Comment,
		Created: time.Now().UTC().Truncate(time.Second)}
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO revisions (title, body, author, comment, created_at, edit_key)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), rev.Title, rev.Body, rev.Author, rev.Comment, rev.Created.Unix(), e.Key).Scan(&rev.ID)
	if err != nil {
		return Revision{}, err
	}
	// The page moves only from the revision the editor saw: under
	// concurrent saves of one page, the first to commit wins and the
	// others find the page moved on.
	var res sql.Result
	if e.BaseRev == 0 {
		res, err = tx.ExecContext(ctx, s.q("INSERT INTO pages (title, rev_id) VALUES (?, ?) ON CONFLICT (title) DO NOTHING"), rev.Title, rev.ID)
	} else {
		res, err = tx.ExecContext(ctx, s.q("UPDATE pages SET rev_id = ? WHERE title = ? AND rev_id = ?"), rev.ID, rev.Title, e.BaseRev)
	}
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return Revision{}, err
	}
	if n == 0 {
		return Revision{}, ErrEditConflict
	}
	return rev, tx.Commit()
}
