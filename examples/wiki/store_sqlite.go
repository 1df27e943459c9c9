package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// OpenStore opens (creating if needed) the SQLite database at path. It does
// not migrate; call Migrate.
//
// Several processes may open the same file at once: the file is in WAL
// mode (readers never wait for the writer), every write transaction is
// BEGIN IMMEDIATE (it takes the write lock up front instead of failing on
// upgrade), and a busy connection waits up to 5s for the lock instead of
// failing.
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
	return &Store{db: db, dialect: sqliteDialect}, nil
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
