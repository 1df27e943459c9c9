package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// locate finds the programs the run needs: PostgreSQL's bin directory (as
// "pgbin", with pgbench in it) and pgBackRest when a setup uses it. It
// returns a *host.MissingPackagesError naming every package missing.
func locate(o options) (map[string]string, error) {
	bins := map[string]string{}
	var missing []string
	if dir := host.PgBinDir(); dir != "" && host.IsExecutable(filepath.Join(dir, "pgbench")) {
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

// version is the first version-looking word of a program's version
// command, or "unknown".
func version(ctx context.Context, argv ...string) string {
	if _, v := host.VersionOutput(ctx, argv...); v != "" {
		return v
	}
	return "unknown"
}
