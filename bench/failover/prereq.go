package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"

	"github.com/tandem-run/tandem/bench/host"
)

// locate finds the programs the setups need: PostgreSQL's bin directory
// (as "pgbin") for every setup, patroni, patronictl and etcd for
// Patroni's. It returns a *host.MissingPackagesError naming every package
// missing.
func locate(ss []setup) (map[string]string, error) {
	bins := map[string]string{}
	var missing []string
	need := func(pkg string) {
		if !slices.Contains(missing, pkg) {
			missing = append(missing, pkg)
		}
	}
	if dir := host.PgBinDir(); dir != "" {
		bins["pgbin"] = dir
	} else {
		need("postgresql")
	}
	if slices.ContainsFunc(ss, func(s setup) bool { return s.System == "patroni" }) {
		for _, p := range [][2]string{{"patroni", "patroni"}, {"patronictl", "patroni"}, {"etcd", "etcd-server"}} {
			if path, err := exec.LookPath(p[0]); err == nil {
				bins[p[0]] = path
			} else if path := "/usr/bin/" + p[0]; host.IsExecutable(path) {
				bins[p[0]] = path
			} else {
				need(p[1])
			}
		}
	}
	if len(missing) > 0 {
		return nil, &host.MissingPackagesError{Packages: missing}
	}
	if _, err := host.PostgresUser(); err != nil {
		return nil, err
	}
	return bins, nil
}

// version is the first version-looking word of a program's version
// command, else the last word ("tandem version dev"), or "unknown".
func version(ctx context.Context, argv ...string) string {
	out, v := host.VersionOutput(ctx, argv...)
	if v != "" {
		return v
	}
	if f := strings.Fields(out); len(f) > 0 {
		return f[len(f)-1]
	}
	return "unknown"
}
