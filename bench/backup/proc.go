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
)

// proc is a long-running process the benchmark started: a postmaster,
// tandem's archiver, versitygw, pgbench. Its output goes to a log file;
// it gets SIGKILL if the benchmark dies without cleaning up. Only
// processes the benchmark started are signalled, by pid (or through the
// box that holds them).
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has been reaped
	err  error         // its exit status; read after done
}

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
	logf, err := os.OpenFile(spec.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Env = append(append([]string{}, baseEnv...), spec.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.cred}
	if spec.box != nil {
		err = spec.box.start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	p := &proc{name: spec.name, log: spec.log, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit.
func (p *proc) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s (pid %d) still runs after %s", p.name, p.cmd.Process.Pid, timeout)
	}
}

// stop sends sig to the process, waits up to grace, then SIGKILLs its
// process group. Safe on a process that already exited.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	p.cmd.Process.Signal(sig) //nolint:errcheck // it may have exited meanwhile
	if p.wait(grace) == nil {
		return nil
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // ESRCH: gone already
	if err := p.wait(10 * time.Second); err != nil {
		return err
	}
	return fmt.Errorf("%s did not stop within %s: killed", p.name, grace)
}

// logTail is the end of the process's log, for an error message.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
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
