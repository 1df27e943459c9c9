package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// proc is a long-running process the benchmark started: a postmaster,
// tandem's archiver, versitygw, pgbench (or through the box that holds
// them).
type proc struct{ *host.Proc }

// procSpec says what to start.
type procSpec struct {
	name string
	argv []string
	env  []string // added to a minimal environment
	log  string   // appended to
	cred *syscall.Credential
	box  *box // nil: not in a box
}

// baseEnv is the environment every process starts with.
var baseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8", "LC_ALL=C", "PGTZ=UTC", "TZ=UTC"}

// startProc starts spec; a goroutine reaps it when it exits, which stop
// (or a crash of its box) brings about.
func startProc(spec procSpec) (*proc, error) {
	hs := host.ProcSpec{Name: spec.name, Argv: spec.argv, Env: append(append([]string{}, baseEnv...), spec.env...), Log: spec.log, Cred: spec.cred}
	if spec.box != nil {
		hs.Start = spec.box.start
	}
	p, err := host.StartProc(hs)
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// stop sends sig to the process, waits up to grace, then SIGKILLs its
// process group. Safe on a process that already exited.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	p.Cmd.Process.Signal(sig) //nolint:errcheck // it may have exited meanwhile
	if p.Wait(grace) == nil {
		return nil
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL) //nolint:errcheck // ESRCH: gone already
	if err := p.Wait(10 * time.Second); err != nil {
		return err
	}
	return fmt.Errorf("%s did not stop within %s: killed", p.Name, grace)
}

// logTail is the end of the process's log, for an error message.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.Log)
	return tail(string(b), 1500)
}

// runCmd runs a program to its end within timeout and returns its
// output; on failure the error holds the program's name and the tail of
// what it printed.
func runCmd(ctx context.Context, timeout time.Duration, cred *syscall.Credential, env []string, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, baseEnv...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (deadline %s)", ctx.Err(), timeout)
		}
		return out.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(argv[:min(len(argv), 3)], " "), err, tail(out.String(), 2000))
	}
	return out.Bytes(), nil
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
