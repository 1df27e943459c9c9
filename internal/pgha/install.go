package pgha

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// DefaultRoot is where Debian installs PostgreSQL's binaries, one
// directory per major version: /usr/lib/postgresql/<major>/bin.
const DefaultRoot = "/usr/lib/postgresql"

// Errors of FindInstall, for errors.Is.
var (
	ErrNoPostgres     = errors.New("postgresql binaries not found")
	ErrNoPostgresUser = errors.New("os user for postgresql not found")
)

// Install is a PostgreSQL installation and the OS user that runs it.
type Install struct {
	BinDir  string // holds postgres, initdb, pg_basebackup, pg_rewind, pg_controldata
	Major   int    // major version, from postgres --version
	Version string // full version, e.g. "15.18"
	User    string
	UID     uint32
	GID     uint32
}

// requiredBinaries are the programs tandem runs.
var requiredBinaries = []string{"postgres", "initdb", "pg_basebackup", "pg_rewind", "pg_controldata"}

var versionPattern = regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)?`)

// FindInstall finds PostgreSQL's binaries in binDir, or when binDir is ""
// in the highest version under DefaultRoot, reads their version, and looks
// up osUser ("postgres" when ""). PostgreSQL refuses to run as root, so
// every program runs as that user.
func FindInstall(ctx context.Context, binDir, osUser string) (Install, error) {
	if osUser == "" {
		osUser = "postgres"
	}
	if binDir == "" {
		var err error
		if binDir, err = newestBinDir(DefaultRoot); err != nil {
			return Install{}, err
		}
	}
	for _, b := range requiredBinaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return Install{}, fmt.Errorf("%w: %s: %w (on Debian: apt-get install postgresql)", ErrNoPostgres, b, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return Install{}, fmt.Errorf("%w: %s --version: %w", ErrNoPostgres, filepath.Join(binDir, "postgres"), err)
	}
	m := versionPattern.FindSubmatch(out)
	if m == nil {
		return Install{}, fmt.Errorf("%w: unrecognised version %q", ErrNoPostgres, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	inst := Install{BinDir: binDir, Major: major, Version: string(m[1]) + string(m[2]), User: osUser}
	u, err := user.Lookup(osUser)
	if err != nil {
		return Install{}, fmt.Errorf("%w: %q: %w (on Debian the postgresql package creates it)", ErrNoPostgresUser, osUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return Install{}, fmt.Errorf("%w: %q has uid %q gid %q", ErrNoPostgresUser, osUser, u.Uid, u.Gid)
	}
	if uid == 0 {
		return Install{}, fmt.Errorf("%w: %q is root, which postgres refuses to run as", ErrNoPostgresUser, osUser)
	}
	inst.UID, inst.GID = uint32(uid), uint32(gid)
	return inst, nil
}

// newestBinDir returns root/<major>/bin of the highest major installed.
func newestBinDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("%w: %w (on Debian: apt-get install postgresql)", ErrNoPostgres, err)
	}
	var majors []int
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			majors = append(majors, v)
		}
	}
	if len(majors) == 0 {
		return "", fmt.Errorf("%w: no version directory in %s (on Debian: apt-get install postgresql)", ErrNoPostgres, root)
	}
	return filepath.Join(root, strconv.Itoa(slices.Max(majors)), "bin"), nil
}

// bin is the path of one of the installation's programs.
func (in Install) bin(name string) string { return filepath.Join(in.BinDir, name) }
