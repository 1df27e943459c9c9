package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

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
	if dir := pgBinDir(); dir != "" {
		bins["pgbin"] = dir
	} else {
		need("postgresql")
	}
	if slices.ContainsFunc(ss, func(s setup) bool { return s.System == "patroni" }) {
		for _, p := range [][2]string{{"patroni", "patroni"}, {"patronictl", "patroni"}, {"etcd", "etcd-server"}} {
			if path, err := exec.LookPath(p[0]); err == nil {
				bins[p[0]] = path
			} else if path := "/usr/bin/" + p[0]; isExecutable(path) {
				bins[p[0]] = path
			} else {
				need(p[1])
			}
		}
	}
	if len(missing) > 0 {
		return nil, &host.MissingPackagesError{Packages: missing}
	}
	if _, err := postgresUser(); err != nil {
		return nil, err
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

var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// version runs a program's version command and returns the first
// version-looking word of its output, or "unknown".
func version(ctx context.Context, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if v := versionRE.FindString(string(out)); v != "" {
		return v
	}
	if f := strings.Fields(string(out)); len(f) > 0 { // "tandem version dev"
		return f[len(f)-1]
	}
	return "unknown"
}
