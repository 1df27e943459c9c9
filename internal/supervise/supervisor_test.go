package supervise

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	in := h.start(t, helperSpec("web-1", "sleep"))
	st := in.Status()
	if st.State != StateRunning || st.PID == 0 || st.StartedAt.IsZero() || st.Name != "web-1" || st.App != "app-web" {
		t.Fatalf("Status() after Start = %+v; want running with a PID", st)
	}
	if got := h.sup.Instances(); len(got) != 1 || got[0] != in {
		t.Errorf("Instances() = %v; want [web-1]", got)
	}
	h.waitOutput(t, "web-1", "ready")
	if err := in.Stop(ctxTimeout(t)); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if err := in.Stop(ctxTimeout(t)); err != nil {
		t.Errorf("second Stop() = %v; want nil", err)
	}
	if !dead(st.PID, waitTimeout) {
		t.Errorf("process %d alive after Stop", st.PID)
	}
	got := in.Status()
	if got.State != StateStopped || got.PID != 0 || got.LastExit == nil || got.LastExit.Signal != syscall.SIGTERM || !got.LastExit.Requested {
		t.Errorf("Status() after Stop = %+v, last exit %+v; want stopped by SIGTERM", got, got.LastExit)
	}
	var kinds []EventKind
	for _, ev := range h.events.all() {
		kinds = append(kinds, ev.Kind)
	}
	if want := []EventKind{EventStarted, EventExited, EventStopped}; !slices.Equal(kinds, want) {
		t.Errorf("events = %v; want %v", kinds, want)
	}
	if got := h.sup.Instances(); len(got) != 0 {
		t.Errorf("Instances() after Stop = %v; want none", got)
	}
	if err := in.Restart("test"); !errors.Is(err, ErrStopped) {
		t.Errorf("Restart() after Stop = %v; want ErrStopped", err)
	}
	// The name is free again.
	again := h.start(t, helperSpec("web-1", "sleep"))
	if err := again.Stop(ctxTimeout(t)); err != nil {
		t.Errorf("Stop() = %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec Spec
		want string
		is   error
	}{
		{Spec{Name: "web-1", Command: []string{"./bin/wiki"}, Dir: dir},
			`start instance web-1: exec "./bin/wiki": no such file or directory`, fs.ErrNotExist},
		{Spec{Name: "web-2", Command: []string{"./noexec"}, Dir: dir},
			`start instance web-2: exec "./noexec": permission denied`, fs.ErrPermission},
		{Spec{Name: "web-3", Command: []string{"wiki-not-there"}, Env: []string{"PATH=" + dir}},
			`start instance web-3: exec "wiki-not-there": executable file not found in $PATH`, exec.ErrNotFound},
		{Spec{Name: "web-4", Command: []string{"/bin/true"}, Dir: filepath.Join(dir, "gone")},
			`start instance web-4: dir "` + dir + `/gone": no such file or directory`, fs.ErrNotExist},
		{Spec{Name: "web-5"}, `start instance web-5: command: must not be empty`, nil},
	}
	for _, tt := range tests {
		in, err := h.sup.Start(context.Background(), tt.spec)
		if err == nil || err.Error() != tt.want || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("Start(%v) = %v; want %q (is %v)", tt.spec.Command, err, tt.want, tt.is)
		}
		if in != nil {
			t.Errorf("Start(%v) returned an instance with its error", tt.spec.Command)
		}
	}
	if got := h.sup.Instances(); len(got) != 0 {
		t.Errorf("Instances() after failed starts = %d; want none", len(got))
	}
	h.start(t, helperSpec("web-1", "sleep"))
	if _, err := h.sup.Start(context.Background(), helperSpec("web-1", "sleep")); !errors.Is(err, ErrExists) {
		t.Errorf("Start(duplicate name) = %v; want ErrExists", err)
	}
}

func TestStartAfterRunEnded(t *testing.T) {
	sup, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sup.Run(ctx); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if err := sup.Run(ctx); err == nil {
		t.Errorf("second Run() = nil; want an error")
	}
	if _, err := sup.Start(context.Background(), helperSpec("web-1", "sleep")); !errors.Is(err, ErrClosed) {
		t.Errorf("Start() after Run = %v; want ErrClosed", err)
	}
	// Before Run, Start waits; ctx bounds the wait.
	idle, _ := New(Options{})
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if _, err := idle.Start(short, helperSpec("web-1", "sleep")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start() before Run = %v; want DeadlineExceeded", err)
	}
}

// TestRunStopsEverything ends Run with instances running: every process
// must be gone and every goroutine of the package ended when Run returns.
func TestRunStopsEverything(t *testing.T) {
	events := newRecorder[Event]()
	sup, err := New(Options{OnEvent: events.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- sup.Run(ctx) }()
	var pids []int
	for _, name := range []string{"web-1", "web-2", "worker-1"} {
		spec := helperSpec(name, "sleep")
		if name == "web-2" {
			spec = helperSpec(name, "ignore-term")
			spec.StopGrace = 100 * time.Millisecond
		}
		in, err := sup.Start(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, in.Status().PID)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	for _, pid := range pids {
		if !dead(pid, waitTimeout) {
			t.Errorf("process %d alive after Run returned", pid)
		}
	}
	stopped := 0
	for _, ev := range events.all() {
		if ev.Kind == EventStopped {
			stopped++
		}
	}
	if stopped != 3 {
		t.Errorf("%d stopped events; want 3", stopped)
	}
	checkNoGoroutines(t)
}

// checkNoGoroutines fails if a goroutine of the package is left. Only for
// tests that do not run in parallel.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	// Goroutines have exited when Run returns; give the runtime a moment
	// to take the finished ones off the list.
	for i := 0; ; i++ {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		leaked := ""
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "internal/supervise.(*") || strings.Contains(g, "internal/supervise.spawn") {
				leaked = g
			}
		}
		if leaked == "" {
			return
		}
		if i == 100 {
			t.Fatalf("goroutine left after Run returned:\n%s", leaked)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
