package host

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a long-running process a benchmark started: a postmaster, a
// tandem node, Patroni, etcd, versitygw, pgbench. It runs in its own
// process group with its output appended to a log file, and gets SIGKILL
// if the benchmark dies without cleaning up. How it is stopped is the
// benchmark's to say; only processes the benchmark started are ever
// signalled, by pid.
type Proc struct {
	Name string
	Log  string // its stdout and stderr
	Cmd  *exec.Cmd
	done chan struct{} // closed once the wait goroutine has reaped it
	err  error         // its exit status; read after done
}

// ProcSpec says what to start.
type ProcSpec struct {
	Name string
	Argv []string
	Env  []string // its whole environment
	Log  string   // appended to
	Cred *syscall.Credential

	// Start starts the command; nil is (*exec.Cmd).Start. It is there
	// for processes started inside a cgroup.
	Start func(*exec.Cmd) error
}

// StartProc starts spec. Its wait goroutine ends when the process exits,
// which the caller's stop (or a crash) brings about.
func StartProc(spec ProcSpec) (*Proc, error) {
	logf, err := os.OpenFile(spec.Log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.Cred}
	start := spec.Start
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Proc{Name: spec.Name, Log: spec.Log, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id, which is also its process group's.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit status once it has exited; nil before.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Wait waits up to timeout for the process to exit.
func (p *Proc) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s (pid %d) still runs after %s", p.Name, p.Pid(), timeout)
	}
}
