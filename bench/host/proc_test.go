package host

import (
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	log := filepath.Join(t.TempDir(), "p.log")
	p, err := StartProc(ProcSpec{Name: "exit3", Argv: []string{"/bin/sh", "-c", "echo hello; exit 3"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if !p.Exited() || !errors.As(p.Err(), &exit) || exit.ExitCode() != 3 {
		t.Errorf("after exit 3: Exited() = %v, Err() = %v; want true and exit status 3", p.Exited(), p.Err())
	}

	p, err = StartProc(ProcSpec{Name: "sleeper", Argv: []string{"/bin/sleep", "60"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(50 * time.Millisecond); err == nil || p.Exited() || p.Err() != nil {
		t.Errorf("a running process: Wait = %v, Exited() = %v, Err() = %v; want an error, false, nil", err, p.Exited(), p.Err())
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL) // its own process group
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	if _, err := StartProc(ProcSpec{Name: "missing", Argv: []string{"/nonexistent/program"}, Log: log}); err == nil {
		t.Error("StartProc of a missing program: nil error")
	}
}
