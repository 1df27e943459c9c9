package supervise

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRestartAfterKillWithBackoff(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := helperSpec("web-1", "sleep")
	spec.MinBackoff, spec.MaxBackoff = 300*time.Millisecond, time.Second
	in := h.start(t, spec)
	first := in.Status().PID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exited, next := h.waitEvent(t, 0, "web-1", EventExited)
	if exited.PID != first || exited.Signal != syscall.SIGKILL || exited.Requested || exited.ExitCode != -1 {
		t.Errorf("exit event = %+v; want pid %d killed by SIGKILL, not requested", exited, first)
	}
	started, _ := h.waitEvent(t, next, "web-1", EventStarted)
	if started.PID == first || started.PID == 0 {
		t.Errorf("restarted with pid %d; want a new process", started.PID)
	}
	// The back-off (300ms less up to 20% jitter) passed between exit and start.
	if gap := started.Time.Sub(exited.Time); gap < 240*time.Millisecond {
		t.Errorf("restarted %v after the exit; want the back-off of >= 240ms", gap)
	}
	st := in.Status()
	if st.Restarts != 1 || st.CrashLoop || st.LastExit == nil || st.LastExit.Signal != syscall.SIGKILL || st.LastExit.Err != "signal: killed" {
		t.Errorf("Status() = %+v, last exit %+v; want 1 restart after SIGKILL", st, st.LastExit)
	}
}

func TestCrashLoop(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := helperSpec("web-1", "exit", "HELPER_CODE=3")
	spec.MinBackoff, spec.MaxBackoff = time.Millisecond, 50*time.Millisecond
	in := h.start(t, spec)
	_, next := h.waitEvent(t, 0, "web-1", EventCrashLoop)
	st := in.Status()
	if !st.CrashLoop || st.Restarts < CrashLoopExits-1 || st.LastExit == nil || st.LastExit.Code != 3 {
		t.Errorf("Status() = %+v, last exit %+v; want a crash loop of exits with code 3", st, st.LastExit)
	}
	if !strings.Contains(strings.Join(st.LogTail, "\n"), "exiting with 3") {
		t.Errorf("LogTail = %q; want the helper's output", st.LogTail)
	}
	// It keeps retrying, at the max back-off.
	_, next = h.waitEvent(t, next, "web-1", EventStarted)
	h.waitEvent(t, next, "web-1", EventExited)
	if st := in.Status(); st.State != StateCrashLoop && st.State != StateStarting && st.State != StateRunning {
		t.Errorf("State = %s; want crashloop (or a retry in progress)", st.State)
	}
	h.logs.wait(t, 0, "crash loop log line", func(r logRecord) bool {
		return r.Msg == "instance crash looping" && r.Attrs["instance"] == "web-1"
	})
}

func TestExecFailureIsCrashLoop(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "wiki")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec("web-1", "unlink-exit", "HELPER_PATH="+link)
	spec.Command[0] = link
	spec.MinBackoff, spec.MaxBackoff = time.Millisecond, 20*time.Millisecond
	in := h.start(t, spec)
	h.waitEvent(t, 0, "web-1", EventCrashLoop)
	ev, _ := h.events.wait(t, 0, "failed start", func(ev Event) bool { return ev.Kind == EventExited && ev.PID == 0 })
	if !errors.Is(ev.Err, fs.ErrNotExist) {
		t.Errorf("failed start event Err = %v; want not exist", ev.Err)
	}
	st := in.Status()
	want := `exec "` + link + `": no such file or directory`
	if !st.CrashLoop || st.LastExit == nil || st.LastExit.Err != want {
		t.Errorf("Status() = %+v, last exit %+v; want crash loop with %q", st, st.LastExit, want)
	}
}

func TestStopGraceThenSIGKILL(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := helperSpec("web-1", "ignore-term")
	spec.StopGrace = 300 * time.Millisecond
	in := h.start(t, spec)
	h.waitOutput(t, "web-1", "ready") // SIGTERM is ignored from now on
	begin := time.Now()
	if err := in.Stop(ctxTimeout(t)); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if took := time.Since(begin); took < spec.StopGrace {
		t.Errorf("Stop() took %v; want >= the grace of %v", took, spec.StopGrace)
	}
	if ex := in.Status().LastExit; ex == nil || ex.Signal != syscall.SIGKILL || !ex.Requested {
		t.Errorf("LastExit = %+v; want SIGKILL, requested", ex)
	}
	h.logs.wait(t, 0, "grace exceeded log line", func(r logRecord) bool {
		return r.Msg == "instance did not stop within grace; killing it"
	})
}

func TestRestartRequested(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := helperSpec("web-1", "sleep")
	spec.MinBackoff, spec.MaxBackoff = time.Minute, time.Minute // a restart must not wait for it
	in := h.start(t, spec)
	first := in.Status().PID
	if err := in.Restart("health check failed"); err != nil {
		t.Fatalf("Restart() = %v", err)
	}
	exited, next := h.waitEvent(t, 0, "web-1", EventExited)
	if !exited.Requested || exited.Signal != syscall.SIGTERM {
		t.Errorf("exit event = %+v; want requested, SIGTERM", exited)
	}
	started, _ := h.waitEvent(t, next, "web-1", EventStarted)
	if started.PID == first {
		t.Errorf("Restart kept pid %d", first)
	}
	if st := in.Status(); st.Restarts != 1 || st.State != StateRunning || st.CrashLoop {
		t.Errorf("Status() = %+v; want running after 1 restart", st)
	}
	h.logs.wait(t, 0, "restart log line", func(r logRecord) bool {
		return r.Msg == "instance restart requested" && r.Attrs["reason"] == "health check failed"
	})
}

func TestGrandchildrenKilledOnStop(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	pidfile := filepath.Join(t.TempDir(), "pids")
	in := h.start(t, helperSpec("web-1", "grandchildren", "HELPER_PIDFILE="+pidfile))
	h.waitOutput(t, "web-1", "ready")
	pids := readPidfile(t, pidfile)
	if err := in.Stop(ctxTimeout(t)); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if !dead(pids[1], waitTimeout) {
		t.Errorf("grandchild %d in the process group alive after Stop", pids[1])
	}
	if h.sup.cg.v2Run == "" && h.sup.cg.v1Run == "" {
		t.Skip("no writable cgroup: a grandchild in a session of its own cannot be found")
	}
	if !dead(pids[2], waitTimeout) {
		t.Errorf("grandchild %d in its own session alive after Stop", pids[2])
	}
}

func readPidfile(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("pidfile %q; want 3 pids", b)
	}
	return pids
}

func TestOutputCaptured(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	const long = 2*MaxLineBytes + 100
	in := h.start(t, helperSpec("web-1", "print", "HELPER_LONG="+strconv.Itoa(long)))
	h.waitOutput(t, "web-1", "done")
	h.waitOutput(t, "web-1", "err 1") // stdout and stderr are read independently
	var pieces, total int
	streams := map[string]int{}
	for _, r := range h.logs.all() {
		if r.Msg != "instance output" {
			continue
		}
		if r.Attrs["app"] != "app-web" || r.Attrs["instance"] != "web-1" {
			t.Errorf("output record attrs %v; want app and instance", r.Attrs)
		}
		streams[r.Attrs["stream"]]++
		if strings.HasPrefix(r.Attrs["line"], "x") {
			if len(r.Attrs["line"]) > MaxLineBytes {
				t.Errorf("output line of %d bytes; want <= %d", len(r.Attrs["line"]), MaxLineBytes)
			}
			pieces++
			total += len(r.Attrs["line"])
		}
	}
	if pieces != 3 || total != long {
		t.Errorf("long line logged as %d pieces of %d bytes; want 3 of %d", pieces, total, long)
	}
	if streams["stdout"] != 60+3+1 || streams["stderr"] != 1 {
		t.Errorf("lines per stream = %v; want 64 stdout, 1 stderr", streams)
	}
	tail := in.Status().LogTail
	if len(tail) != LogTailLines || !slices.Contains(tail, "done") || slices.Contains(tail, "out 1") {
		t.Errorf("LogTail has %d lines, done %v, out 1 %v; want the last %d lines",
			len(tail), slices.Contains(tail, "done"), slices.Contains(tail, "out 1"), LogTailLines)
	}
}

// oomSpec returns a Spec of the "oom" helper with a 64 MiB limit and a back-off
// of a minute, and a Supervisor that enforces memory limits (or skips).
func oomSpec(t *testing.T) (*harness, Spec) {
	t.Helper()
	h := startSupervisor(t, Options{})
	<-h.sup.ready
	if h.sup.cg.noMemory != "" {
		t.Skip(h.sup.cg.noMemory)
	}
	spec := helperSpec("web-1", "oom")
	spec.MemoryLimit = 64 << 20
	spec.MinBackoff, spec.MaxBackoff = time.Minute, time.Minute
	return h, spec
}

func TestMemoryLimitOOMKill(t *testing.T) {
	t.Parallel()
	h, spec := oomSpec(t)
	in := h.start(t, spec)
	if !in.Status().MemoryLimitEnforced {
		t.Fatalf("MemoryLimitEnforced = false with a usable memory controller")
	}
	ev, _ := h.waitEvent(t, 0, "web-1", EventOOMKilled)
	if ev.Signal != syscall.SIGKILL {
		t.Errorf("OOM event = %+v; want SIGKILL", ev)
	}
	for _, e := range h.events.all() {
		if e.Kind == EventExited {
			t.Errorf("got %+v; want only EventOOMKilled for the OOM kill", e)
		}
	}
	if st := in.Status(); st.OOMKills < 1 || st.LastExit == nil || !st.LastExit.OOMKilled {
		t.Errorf("Status() = %+v, last exit %+v; want an OOM kill", st, st.LastExit)
	}
	h.logs.wait(t, 0, "OOM log line", func(r logRecord) bool {
		return r.Msg == "instance killed by the OOM killer" && r.Attrs["instance"] == "web-1"
	})
}

func TestMemoryLimitNotEnforced(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{cgroupFS: t.TempDir()})
	for _, name := range []string{"web-1", "web-2"} {
		spec := helperSpec(name, "sleep")
		spec.MemoryLimit = 512 << 20
		if in := h.start(t, spec); in.Status().MemoryLimitEnforced {
			t.Errorf("%s: MemoryLimitEnforced = true without cgroups", name)
		}
	}
	var warnings []logRecord
	for _, r := range h.logs.all() {
		if r.Msg == "memory limit not enforced" {
			warnings = append(warnings, r)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d memory warnings; want 1 per app", len(warnings))
	}
	w := warnings[0].Attrs
	if w["app"] != "app-web" || w["limit"] != strconv.Itoa(512<<20) || !strings.HasPrefix(w["reason"], "no writable cgroup memory controller (") {
		t.Errorf("warning attrs = %v; want app, limit and reason", w)
	}
}
