package supervise

import (
	"testing"
	"time"
)

// TestExitWatch: a watch stopped before the exit lets go without reaping,
// and a later watch of the same child sees its exit.
func TestExitWatch(t *testing.T) {
	t.Parallel()
	child := startSleeper(t)
	w := watchExit(child.Process.Pid)
	if w.pidfd == nil {
		t.Log("no pidfd: stop cannot end the wait")
	}
	w.stop()
	select {
	case <-w.exited:
		t.Fatalf("exited closed by stop of a running process")
	default:
	}
	if !isChild(child.Process.Pid) {
		t.Fatalf("isChild(%d) = false after stop; want it unreaped", child.Process.Pid)
	}
	again := watchExit(child.Process.Pid)
	defer again.stop()
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-again.exited:
	case <-time.After(waitTimeout):
		t.Fatalf("no exit seen within %v", waitTimeout)
	}
	if !isChild(child.Process.Pid) {
		t.Errorf("isChild(%d) = false after the exit; want a zombie not reaped by the watch", child.Process.Pid)
	}
	if isChild(1) {
		t.Errorf("isChild(1) = true")
	}
}
