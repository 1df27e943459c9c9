package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool sizes of a PostgreSQL store: a few connections per instance, as
// several instances on several nodes share the server's max_connections.
const (
	pgMaxOpen     = 8
	pgMaxIdleTime = 5 * time.Minute
	pgMaxLifetime = 30 * time.Minute
)

// OpenPostgres opens the PostgreSQL database at url (DATABASE_URL), waiting
// through a failover for it to answer. It does not migrate; call Migrate.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxOpen)
	db.SetMaxIdleConns(pgMaxOpen)
	db.SetConnMaxIdleTime(pgMaxIdleTime)
	db.SetConnMaxLifetime(pgMaxLifetime)
	s := &Store{db: db, dialect: postgresDialect}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", describePostgres(cfg), err)
	}
	return s, nil
}

// describePostgres names a database for logs, without its password.
func describePostgres(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// rebind turns the ? placeholders of the store's queries into PostgreSQL's
// $1, $2, ... The queries hold no ? inside string literals.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pgRetryable reports whether a PostgreSQL operation that failed with err
// may succeed if tried again in a moment: the server is failing over or
// restarting (57P01-03), the session landed on a standby (25006, a demoted
// primary), a serialization failure or deadlock (40001, 40P01), or the
// connection was lost or refused. What was cut off mid-way may or may
// not have been committed: the store's writes are idempotent for that.
func pgRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "25006", "40001", "40P01":
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exceptions
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

// pgMigrateLock is the advisory lock that serializes migrators of one
// PostgreSQL database ("wiki" in ASCII).
const pgMigrateLock = 0x77696b69
