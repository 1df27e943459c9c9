package supervise

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The upgrade helpers play a node that replaces its binary in place.
// "upgrade-old" supervises a ticker instance, hands over and execve's the
// test binary again as "upgrade-new", which adopts the instance. Both write
// to HELPER_DIR/report one line per fact ("<phase> <what> <pid>"), and
// upgrade-new its log to HELPER_DIR/new.log.

func upgradeReporter(dir, phase string) (report func(what string, pid int), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "report"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return func(what string, pid int) { fmt.Fprintf(f, "%s %s %d\n", phase, what, pid) }, nil
}

func upgradeOptions(report func(string, int), log *slog.Logger) Options {
	exe, _ := os.Executable()
	return Options{
		KeeperPath: exe,
		Logger:     log,
		OnEvent:    func(ev Event) { report(ev.Kind.String(), ev.PID) },
	}
}

func helperUpgradeOld() int {
	dir := os.Getenv("HELPER_DIR")
	report, err := upgradeReporter(dir, "old")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	report("self", os.Getpid())
	sup, err := New(upgradeOptions(report, nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(context.Background()) }()
	spec := helperSpec("web-1", "ticker")
	spec.StableAfter = time.Hour // the restart after the kill must not wait long
	if _, err := sup.Start(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := sup.Handover()
	if err == nil {
		err = <-ran
	}
	var b []byte
	if err == nil {
		b, err = json.Marshal(h)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "handover.json"), b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exe, _ := os.Executable()
	err = syscall.Exec(exe, []string{exe, "-test.run=^$"}, []string{helperEnv + "=upgrade-new", "HELPER_DIR=" + dir})
	fmt.Fprintln(os.Stderr, "exec:", err)
	return 1
}

func helperUpgradeNew() int {
	dir := os.Getenv("HELPER_DIR")
	report, err := upgradeReporter(dir, "new")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	report("self", os.Getpid())
	b, err := os.ReadFile(filepath.Join(dir, "handover.json"))
	var h Handover
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	logFile, lerr := os.Create(filepath.Join(dir, "new.log"))
	if err = errors.Join(err, lerr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := upgradeOptions(report, slog.New(slog.NewTextHandler(logFile, nil)))
	opts.Adopt = &h
	sup, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, in := range sup.Instances() {
		report("adopted", in.Status().PID)
	}
	if err := sup.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// waitReport waits until the report holds a line that match accepts and
// returns all lines up to it.
func waitReport(t *testing.T, path string, cmd *exec.Cmd, what string, match func(line string) bool) []string {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		f, err := os.Open(path)
		if err == nil {
			var lines []string
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if match(sc.Text()) {
					_ = f.Close()
					return lines
				}
			}
			_ = f.Close()
		}
		if time.Now().After(deadline) || dead(cmd.Process.Pid, 0) {
			b, _ := os.ReadFile(path)
			t.Fatalf("no %s in the report:\n%s", what, b)
		}
	}
}

func reportPid(t *testing.T, line string) int {
	t.Helper()
	f := strings.Fields(line)
	pid, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("report line %q: %v", line, err)
	}
	return pid
}

// TestHandoverAcrossExec runs a node stand-in that supervises an instance,
// hands over and execve's itself; the new program adopts the instance. The
// instance must keep its pid (no process was restarted by the exec), its
// output must still be read, it must still be supervised (killed, it is
// started again), and the keeper must still be armed (the stand-in killed,
// the instance dies).
func TestHandoverAcrossExec(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	node := startHelperProcess(t, "upgrade-old", "HELPER_DIR="+dir)

	lines := waitReport(t, report, node, "adoption", func(l string) bool { return strings.HasPrefix(l, "new adopted ") })
	var started []int
	for _, l := range lines {
		if strings.Contains(l, " started ") {
			started = append(started, reportPid(t, l))
		}
		if strings.HasPrefix(l, "new self ") || strings.HasPrefix(l, "old self ") {
			if pid := reportPid(t, l); pid != node.Process.Pid {
				t.Fatalf("report %q: want the node's pid %d", l, node.Process.Pid)
			}
		}
	}
	adopted := reportPid(t, lines[len(lines)-1])
	if len(started) != 1 || started[0] != adopted {
		t.Fatalf("report:\n%s\nwant one start, whose process is adopted", strings.Join(lines, "\n"))
	}
	if dead(adopted, 0) {
		t.Fatalf("instance process %d died with the exec", adopted)
	}
	if ppid := parentPid(t, adopted); ppid != node.Process.Pid {
		t.Errorf("adopted process %d has parent %d; want the node %d", adopted, ppid, node.Process.Pid)
	}

	// Its output is read by the new program: the pipe survived the exec.
	waitReport(t, filepath.Join(dir, "new.log"), node, "ticker output after the exec", func(l string) bool {
		return strings.Contains(l, `msg="instance output"`) && strings.Contains(l, "line=\"tick ")
	})

	// Still supervised: killed, it is started again by the new program.
	if err := syscall.Kill(adopted, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lines = waitReport(t, report, node, "restart", func(l string) bool { return strings.HasPrefix(l, "new started ") })
	restarted := reportPid(t, lines[len(lines)-1])
	if !strings.Contains(strings.Join(lines, "\n"), fmt.Sprintf("new exited %d", adopted)) {
		t.Errorf("report:\n%s\nwant the exit of %d seen by the new program", strings.Join(lines, "\n"), adopted)
	}

	// The keeper handed over still kills the instance when the node dies.
	if err := node.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	if !dead(restarted, waitTimeout) {
		t.Errorf("instance %d alive after the node that adopted the keeper was killed", restarted)
	}
	t.Logf("report:\n%s", strings.Join(lines, "\n"))
}

func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func TestHandoverNeedsKeeper(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	h.start(t, helperSpec("web-1", "sleep"))
	if _, err := h.sup.Handover(); !errors.Is(err, ErrNoKeeper) {
		t.Errorf("Handover() without keeper = %v; want ErrNoKeeper", err)
	}
}

// TestHandoverInProcess hands a Supervisor's instances to another in the
// same process (what a node does when its exec fails), in each state: a
// running one, one waiting out a back-off and one being restarted past
// its stop signal. Each must resume where it was.
func TestHandoverInProcess(t *testing.T) {
	t.Parallel()
	exe := testExe(t)
	old := startSupervisor(t, Options{KeeperPath: exe})
	running := old.start(t, helperSpec("web-1", "sleep"))
	crashing := helperSpec("web-2", "exit", "HELPER_CODE=3")
	crashing.MinBackoff, crashing.MaxBackoff = time.Hour, time.Hour
	old.start(t, crashing)
	stopping := helperSpec("web-3", "ignore-term")
	stopping.StopGrace = 500 * time.Millisecond
	restarting := old.start(t, stopping)
	old.waitEvent(t, 0, "web-2", EventExited)
	old.waitOutput(t, "web-3", "ready")
	if err := restarting.Restart("deploy"); err != nil {
		t.Fatal(err)
	}
	old.logs.wait(t, 0, "restart request", func(r logRecord) bool { return r.Msg == "instance restart requested" })
	pid1, pid3 := running.Status().PID, restarting.Status().PID
	old.sup.keeper.mu.Lock()
	keeperPid := old.sup.keeper.proc.Pid
	old.sup.keeper.mu.Unlock()

	h, err := old.sup.Handover()
	if err != nil {
		t.Fatalf("Handover() = %v", err)
	}
	if _, err := old.sup.Handover(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Handover() = %v; want ErrClosed", err)
	}
	if len(h.Instances) != 3 || h.Keeper.PID != keeperPid || len(h.FDs()) != 1+2*2 {
		t.Fatalf("Handover() = %+v; want 3 instances, keeper %d, 5 descriptors", h, keeperPid)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var adopt Handover
	if err := json.Unmarshal(b, &adopt); err != nil {
		t.Fatal(err)
	}

	next := startSupervisor(t, Options{KeeperPath: exe, Adopt: &adopt})
	byName := map[string]*Instance{}
	for _, in := range next.sup.Instances() {
		byName[in.Name()] = in
	}
	if st := byName["web-1"].Status(); st.PID != pid1 || st.State != StateRunning {
		t.Errorf("adopted web-1 = %+v; want running as %d", st, pid1)
	}
	// web-3 was being restarted: it gets SIGKILL at the end of its grace,
	// then starts again at once.
	ev, n := next.waitEvent(t, 0, "web-3", EventExited)
	if ev.PID != pid3 || ev.Signal != syscall.SIGKILL || !ev.Requested {
		t.Errorf("web-3 exit = %+v; want %d killed after its grace, requested", ev, pid3)
	}
	next.waitEvent(t, n, "web-3", EventStarted)
	// web-2 waits out its hour of back-off; a Restart starts it now.
	if st := byName["web-2"].Status(); st.State != StateBackoff || st.Restarts != 0 || st.PID != 0 {
		t.Errorf("adopted web-2 = %+v; want in back-off", st)
	}
	if err := byName["web-2"].Restart("operator"); err != nil {
		t.Fatal(err)
	}
	next.waitEvent(t, 0, "web-2", EventStarted)
	for _, ev := range next.events.all() {
		if ev.Instance == "web-1" {
			t.Errorf("web-1 got %+v; want it left running", ev)
		}
	}
	if st := byName["web-1"].Status(); st.PID != pid1 || st.Restarts != 0 {
		t.Errorf("web-1 = %+v; want still %d, never restarted", st, pid1)
	}
	next.sup.keeper.mu.Lock()
	if next.sup.keeper.proc.Pid != keeperPid {
		t.Errorf("keeper %d after adoption; want %d kept", next.sup.keeper.proc.Pid, keeperPid)
	}
	next.sup.keeper.mu.Unlock()
	for _, r := range old.events.all() {
		if r.Kind == EventStopped {
			t.Errorf("old supervisor sent %+v; a handover stops nothing", r)
		}
	}
}
