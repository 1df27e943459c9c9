package main

import (
	"os/exec"
	"path/filepath"

	"github.com/tandem-run/tandem/bench/host"
)

// program is an executable the run needs and the package that has it.
type program struct {
	name, pkg string
}

// locatePrograms finds each program on PATH or in /usr/sbin and /usr/bin
// (nginx, varnishd and haproxy live in /usr/sbin, which a non-root PATH
// may lack). It returns their absolute paths by name, or a
// *host.MissingPackagesError naming every package missing.
func locatePrograms(progs []program) (map[string]string, error) {
	found := map[string]string{}
	var missing []string
	for _, p := range progs {
		if path, ok := lookProgram(p.name); ok {
			found[p.name] = path
		} else if !contains(missing, p.pkg) {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) > 0 {
		return nil, &host.MissingPackagesError{Packages: missing}
	}
	return found, nil
}

func lookProgram(name string) (string, bool) {
	if path, err := exec.LookPath(name); err == nil {
		abs, err := filepath.Abs(path)
		return abs, err == nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		path := filepath.Join(dir, name)
		if _, err := exec.LookPath(path); err == nil {
			return path, true
		}
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
