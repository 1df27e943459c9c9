package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// commandOutput runs a short command (a version query, go build) in its own
// process group, killed with the group when ctx ends, and returns its
// combined output.
func commandOutput(ctx context.Context, dir string, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var versionRE = regexp.MustCompile(`v?\d+\.\d+(\.\d+)?[^\s,)]*`)

// programVersion runs argv (a program's version flag) and returns the first
// version-looking word of its output (else the last word of its first
// line, or "unknown"). Some programs (wrk)
// exit non-zero after printing it, so the exit status is ignored.
func programVersion(ctx context.Context, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := commandOutput(ctx, "", nil, argv...)
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	if v := versionRE.FindString(line); v != "" {
		return v
	}
	if f := strings.Fields(line); len(f) > 0 { // "tandem version dev"
		return f[len(f)-1]
	}
	return "unknown"
}
