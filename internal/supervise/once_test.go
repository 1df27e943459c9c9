package supervise

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRunOnceExitCode(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	var mu sync.Mutex
	var lines []string
	spec := helperSpec("job-1", "exit", "HELPER_CODE=4")
	spec.Output = func(stream, line string) {
		mu.Lock()
		lines = append(lines, stream+": "+line)
		mu.Unlock()
	}
	ex, err := h.sup.RunOnce(ctxTimeout(t), spec)
	if err != nil {
		t.Fatalf("RunOnce() = %v", err)
	}
	if ex.Code != 4 || ex.Requested {
		t.Errorf("RunOnce() exit = %+v; want code 4, not requested", ex)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(lines, []string{"stderr: exiting with 4"}) {
		t.Errorf("output = %q; want the helper's line", lines)
	}
	if got := h.sup.Instances(); len(got) != 0 {
		t.Errorf("Instances() after RunOnce = %v; want none (it is not restarted)", got)
	}
}

func TestRunOnceCanceled(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	ex, err := h.sup.RunOnce(ctx, helperSpec("job-2", "sleep"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunOnce() past its deadline = %v; want DeadlineExceeded", err)
	}
	if ex.Signal != syscall.SIGTERM || !ex.Requested {
		t.Errorf("exit = %+v; want stopped by SIGTERM", ex)
	}
}

func TestRunOnceStartFails(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := helperSpec("job-3", "exit")
	spec.Command = []string{"/nonexistent/program"}
	if _, err := h.sup.RunOnce(ctxTimeout(t), spec); err == nil {
		t.Fatal("RunOnce(missing program) = nil error")
	}
}
