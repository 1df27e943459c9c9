package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is an installed PostgreSQL: where its programs are and the
// user they run as (PostgreSQL refuses to run as root).
type Postgres struct {
	BinDir   string // e.g. /usr/lib/postgresql/15/bin
	UID, GID int    // the postgres user
	Home     string // its home directory
}

// ErrNoPostgres is wrapped when PostgreSQL's programs or user are missing.
var ErrNoPostgres = errors.New("PostgreSQL not found")

// FindPostgres finds the newest PostgreSQL under /usr/lib/postgresql (the
// Debian layout) and the postgres user.
func FindPostgres() (Postgres, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return Postgres{}, fmt.Errorf("%w: no /usr/lib/postgresql/<version>/bin/postgres (install postgresql-15)", ErrNoPostgres)
	}
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	u, err := user.Lookup("postgres")
	if err != nil {
		return Postgres{}, fmt.Errorf("%w: user postgres: %w", ErrNoPostgres, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Postgres{BinDir: filepath.Dir(dirs[len(dirs)-1]), UID: uid, GID: gid, Home: u.HomeDir}, nil
}

func pgMajor(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// command prepares one of PostgreSQL's programs to run as the postgres
// user. Canceling ctx stops it with SIGTERM, then SIGKILL after 10 s.
func (p Postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, name), args...)
	if os.Geteuid() != p.UID {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.GID)}}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if os.Geteuid() != p.UID && p.Home != "" {
		// libpq looks for client certificates in ~/.postgresql: under
		// root's home, which the postgres user may not enter, it fails.
		cmd.Env = append(cmd.Env, "HOME="+p.Home)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs a program to its end and returns its output; on failure the
// error holds the program's name and the tail of what it printed.
func (p Postgres) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := p.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", name, err, tail(out.String(), 2000))
	}
	return out.Bytes(), nil
}

// chown gives path to the postgres user.
func (p Postgres) chown(path string) error {
	return os.Lchown(path, p.UID, p.GID)
}

// mkdir makes a directory for the postgres user, mode 0700 (PostgreSQL
// insists on it for a data directory).
func (p Postgres) mkdir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return p.chown(path)
}

// tail is the last n bytes of s, cut at a line start.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "..." + s
}
