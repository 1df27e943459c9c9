package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is one child process of the harness (a peer, the origin, wrk),
// started in its own process group so that stopping it stops everything it
// started, even processes that changed group: Stop also signals every
// descendant it finds in /proc. A Proc is stopped at the end of the run
// whatever happened (see Procs).
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the wait goroutine has reaped the child
	err  error         // the child's exit status; read only after done
	out  *tail         // the last bytes of its stdout+stderr, for error messages
}

// ProcSpec says what to start.
type ProcSpec struct {
	Name   string   // for messages: "nginx", "origin", "wrk"
	Argv   []string // program and arguments
	Env    []string // nil: the harness's environment
	Dir    string   // working directory; "" the harness's
	Stdout io.Writer
}

// startProc starts spec in a new process group. Its output goes to a tail
// buffer (and to spec.Stdout when set). The child also gets SIGKILL if the
// harness dies without cleaning up.
func startProc(spec ProcSpec) (*Proc, error) {
	if len(spec.Argv) == 0 {
		return nil, fmt.Errorf("start %s: empty command", spec.Name)
	}
	p := &Proc{name: spec.Name, done: make(chan struct{}), out: newTail(8 << 10)}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env, cmd.Dir = spec.Env, spec.Dir
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if spec.Stdout != nil {
		cmd.Stdout = io.MultiWriter(spec.Stdout, p.out)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id of the child (the root of its process tree).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the child's exit status; valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Output is the last bytes the child wrote.
func (p *Proc) Output() string { return p.out.String() }

// exitError describes an unexpected exit with the end of the child's output.
func (p *Proc) exitError() error {
	return fmt.Errorf("%s exited: %w; output: %s", p.name, p.Err(), p.Output())
}

// Stop sends SIGTERM to the process group and to every descendant, waits up
// to grace for the child to exit, then sends SIGKILL the same way. It is
// idempotent and safe to call after the child exited by itself.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		p.killStray(syscall.SIGKILL)
		return
	default:
	}
	p.signalAll(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	p.signalAll(syscall.SIGKILL)
	<-p.done
}

// signalAll signals the process group and any descendant outside it.
func (p *Proc) signalAll(sig syscall.Signal) {
	pid := p.cmd.Process.Pid
	desc := descendants(pid)
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		fmt.Fprintf(os.Stderr, "bench: signal %s: %v\n", p.name, err)
	}
	for _, d := range desc {
		syscall.Kill(d, sig) //nolint:errcheck // it may have exited already
	}
}

// killStray kills what is left in the group after the child exited (an
// nginx worker whose master died, say).
func (p *Proc) killStray(sig syscall.Signal) {
	syscall.Kill(-p.cmd.Process.Pid, sig) //nolint:errcheck // ESRCH: nothing left
}
