package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgEnv is the installed PostgreSQL: its programs and the user they run
// as (PostgreSQL refuses root).
type pgEnv struct {
	bin  string // e.g. /usr/lib/postgresql/15/bin
	cred *syscall.Credential
}

func (e pgEnv) path(name string) string { return filepath.Join(e.bin, name) }

// run runs one of PostgreSQL's programs as the postgres user.
func (e pgEnv) run(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	return runCmd(ctx, timeout, e.cred, nil, append([]string{e.path(name)}, args...)...)
}

// mkdir makes a directory for the postgres user, mode 0700.
func (e pgEnv) mkdir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return os.Chown(path, int(e.cred.Uid), int(e.cred.Gid))
}

// initdb makes a cluster in dir: trust authentication over the Unix
// socket only, 16 MiB WAL segments (the default, as in production).
func (e pgEnv) initdb(ctx context.Context, dir string) error {
	if err := e.mkdir(dir); err != nil {
		return err
	}
	_, err := e.run(ctx, 2*time.Minute, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "--no-sync",
		"--encoding=UTF8", "--locale=C")
	return err
}

// server is a PostgreSQL server the benchmark runs, listening on a Unix
// socket only, in a box.
type server struct {
	env  pgEnv
	name string
	data string // data directory
	sock string // socket directory
	box  *box
	proc *proc
}

// appendConf appends settings to the data directory's postgresql.auto.conf
// (read last: they win over postgresql.conf).
func appendConf(data string, settings ...string) error {
	f, err := os.OpenFile(filepath.Join(data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, strings.Join(settings, "\n")); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// start runs the postmaster in the server's box and waits, at most
// timeout, until it accepts connections (a restored copy does once it
// is consistent; see waitPromoted).
func (s *server) start(ctx context.Context, timeout time.Duration) error {
	if _, err := os.Stat(s.sock); errors.Is(err, fs.ErrNotExist) {
		if err := s.env.mkdir(s.sock); err != nil {
			return err
		}
	}
	p, err := startProc(procSpec{name: "postgres " + s.name, log: s.data + ".log", cred: s.env.cred, box: s.box,
		argv: []string{s.env.path("postgres"), "-D", s.data, "-c", "listen_addresses=", "-c", "port=5432",
			"-c", "unix_socket_directories=" + s.sock}})
	if err != nil {
		return err
	}
	s.proc = p
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := s.connect(ctx)
		if err == nil {
			return c.Close(ctx)
		}
		if p.Exited() {
			return fmt.Errorf("postgres %s exited at start (%v): %s", s.name, p.Err(), p.logTail())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("postgres %s: no connection within %s: %w", s.name, timeout, err)
		}
	}
}

// waitPromoted waits, at most timeout, until the server has left
// recovery: a restored copy has replayed the archive and accepts writes.
func (s *server) waitPromoted(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		v, err := s.queryString(ctx, "SELECT pg_is_in_recovery()::text")
		if err == nil && v == "false" {
			return nil
		}
		if s.proc.Exited() {
			return fmt.Errorf("postgres %s exited in recovery (%v): %s", s.name, s.proc.Err(), s.proc.logTail())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("postgres %s: still in recovery after %s: %w", s.name, timeout, err)
		}
	}
}

// connString is the libpq connection string of the server.
func (s *server) connString() string {
	return fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", s.sock)
}

func (s *server) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(cctx, s.connString())
}

// queryString runs a query that returns one text value.
func (s *server) queryString(ctx context.Context, sql string, args ...any) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var v string
	if err := c.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		return "", fmt.Errorf("%s: %w", sql, err)
	}
	return v, nil
}

// exec runs statements.
func (s *server) exec(ctx context.Context, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// stop shuts the server down (fast: SIGINT) within a minute, then kills
// what is left in its box.
func (s *server) stop() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(syscall.SIGINT, time.Minute)
	if s.box != nil && s.box.populated() {
		err = errors.Join(err, s.box.kill())
	}
	return err
}

// dataSize is the size of the files of a data directory outside pg_wal:
// what a base backup copies. Both systems' throughput is this size over
// their time.
func dataSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(dir, "pg_wal") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
