package main

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
	"strings"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// locate finds the programs the run needs: PostgreSQL's bin directory (as
// "pgbin", with pgbench in it) and pgBackRest when a setup uses it. It
// returns a *host.MissingPackagesError naming every package missing.
func locate(o options) (map[string]string, error) {
	bins := map[string]string{}
	var missing []string
	if dir := pgBinDir(); dir != "" && isExecutable(filepath.Join(dir, "pgbench")) {
		bins["pgbin"] = dir
	} else {
		missing = append(missing, "postgresql", "postgresql-contrib")
	}
	if o.needs(systemPgBackRest, "") {
		if path, err := exec.LookPath("pgbackrest"); err == nil {
			bins["pgbackrest"] = path
		} else {
			missing = append(missing, "pgbackrest")
		}
	}
	if len(missing) > 0 {
		return nil, &host.MissingPackagesError{Packages: missing}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("run as root: PostgreSQL runs as the postgres user and each machine is a cgroup")
	}
	return bins, nil
}

// pgBinDir is the newest /usr/lib/postgresql/<version>/bin with a
// postgres in it; "" if none.
func pgBinDir() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortStableFunc(found, func(a, b string) int { return len(a) - len(b) }) // "9" before "15"
	for i := len(found) - 1; i >= 0; i-- {
		if isExecutable(found[i]) {
			return filepath.Dir(found[i])
		}
	}
	return ""
}

func isExecutable(path string) bool {
	_, err := exec.LookPath(path)
	return err == nil
}

// postgresUser is the credential PostgreSQL's processes, and pgBackRest,
// run with.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// versions are the versions of what was measured.
func versions(ctx context.Context, bins map[string]string) map[string]string {
	v := map[string]string{"postgresql": version(ctx, filepath.Join(bins["pgbin"], "postgres"), "--version")}
	if p := bins["pgbackrest"]; p != "" {
		v["pgbackrest"] = version(ctx, p, "version")
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(lctx, "go", "list", "-m", "-f", "{{.Version}}", "github.com/versity/versitygw").Output(); err == nil {
		v["versitygw"] = strings.TrimSpace(string(out))
	}
	return v
}

// version runs a program's version command and returns the first
// version-looking word of its output, or "unknown".
func version(ctx context.Context, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if v := versionRE.FindString(string(out)); v != "" {
		return v
	}
	return "unknown"
}
