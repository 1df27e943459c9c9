package supervise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseKeeperMsg(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{`{"op":"add","id":"3-web-1","pgid":1234,"cgroups":["/sys/fs/cgroup/tandem.slice/run-1-2-ab/3-web-1"]}`, true},
		{`{"op":"add","id":"3-web-1","pgid":1234}`, true},
		{`{"op":"del","id":"3-web-1"}`, true},
		{`{"op":"add","id":"","pgid":1234}`, false},
		{`{"op":"kill","id":"x"}`, false},
		{`{"op":"add","id":"x","pgid":1}`, false},  // kill(-1): every process
		{`{"op":"add","id":"x","pgid":-5}`, false}, // kill(5): not a group
		{`{"op":"add","id":"x","cgroups":["relative/dir"]}`, false},
		{`{"op":"add","id":"x","cgroups":["/sys/fs/cgroup/a/../.."]}`, false},
		{`{"op":"add","id":"x","cgroups":["/"]}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		if _, err := parseKeeperMsg([]byte(tt.line)); (err == nil) != tt.ok {
			t.Errorf("parseKeeperMsg(%s) = %v; want ok %v", tt.line, err, tt.ok)
		}
	}
}

func FuzzParseKeeperMsg(f *testing.F) {
	f.Add([]byte(`{"op":"add","id":"1-web","pgid":99,"cgroups":["/sys/fs/cgroup/x/1-web"]}`))
	f.Add([]byte(`{"op":"del","id":"1-web"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseKeeperMsg(line)
		if err != nil || m.Op == "del" {
			return
		}
		if m.PGID < 0 || m.PGID == 1 || m.ID == "" {
			t.Errorf("parseKeeperMsg(%q) accepted %+v", line, m)
		}
		for _, dir := range m.Cgroups {
			if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" {
				t.Errorf("parseKeeperMsg(%q) accepted cgroup %q", line, dir)
			}
		}
	})
}

func TestReadKeeper(t *testing.T) {
	var in bytes.Buffer
	for _, m := range []keeperMsg{
		{Op: "add", ID: "1-web-1", PGID: 100},
		{Op: "add", ID: "2-web-2", PGID: 200},
		{Op: "add", ID: "1-web-1", PGID: 100, Cgroups: []string{"/cg/1-web-1"}}, // replaces
		{Op: "del", ID: "2-web-2"},
		{Op: "add", ID: "3-web-2", PGID: 300},
	} {
		b, _ := json.Marshal(m)
		in.Write(append(b, '\n'))
	}
	in.WriteString("garbage\n" + `{"op":"add","id":"x","pgid":1}` + "\n")
	logs := newRecorder[logRecord]()
	got, err := readKeeper(&in, slog.New(recordHandler{rec: logs}))
	if err != nil {
		t.Fatalf("readKeeper: %v", err)
	}
	want := []keeperMsg{
		{Op: "add", ID: "1-web-1", PGID: 100, Cgroups: []string{"/cg/1-web-1"}},
		{Op: "add", ID: "3-web-2", PGID: 300},
	}
	if !slices.EqualFunc(got, want, func(a, b keeperMsg) bool {
		return a.ID == b.ID && a.PGID == b.PGID && slices.Equal(a.Cgroups, b.Cgroups)
	}) {
		t.Errorf("readKeeper = %+v; want %+v", got, want)
	}
	if n := len(logs.all()); n != 2 {
		t.Errorf("%d log lines; want 2 (one per bad line)", n)
	}
}

// startSleeper starts a process that sleeps in a process group of its own
// and is reaped when the test ends.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestKillTargets kills what it is told of and nothing else: a process
// group, and a real cgroup v1 memory cgroup where there is one (v2 is
// shown end to end by TestKeeperKillsWhenSupervisorDies).
func TestKillTargets(t *testing.T) {
	told, other := startSleeper(t), startSleeper(t)
	targets := []keeperMsg{{ID: "a", PGID: told.Process.Pid}}

	var inCgroup *exec.Cmd
	cg := openCgroups(cgroupConfig{fs: "/sys/fs/cgroup", proc: "/proc"}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cg.close() })
	if cg.v1Run != "" {
		dir := filepath.Join(cg.v1Run, "1-kill")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		inCgroup = startSleeper(t)
		if err := writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(inCgroup.Process.Pid)); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, keeperMsg{ID: "b", Cgroups: []string{dir}})
	}
	// A hierarchy's root is refused: it holds every process.
	targets = append(targets, keeperMsg{ID: "c", Cgroups: []string{"/sys/fs/cgroup/memory"}})

	found, err := killTargets(targets)
	if _, statErr := os.Stat("/sys/fs/cgroup/memory"); statErr == nil && (err == nil || !strings.Contains(err.Error(), "not below another cgroup")) {
		t.Errorf("killTargets(hierarchy root) = %v; want it refused", err)
	}
	if !dead(told.Process.Pid, waitTimeout) {
		t.Errorf("process group %d alive after killTargets", told.Process.Pid)
	}
	if inCgroup != nil && (found != 1 || !dead(inCgroup.Process.Pid, waitTimeout)) {
		t.Errorf("killTargets found %d in the v1 cgroup; process %d dead %v; want 1, dead", found, inCgroup.Process.Pid, dead(inCgroup.Process.Pid, 0))
	}
	if dead(other.Process.Pid, 100*time.Millisecond) {
		t.Errorf("process %d, not a target, was killed", other.Process.Pid)
	}
	if inCgroup == nil {
		t.Log("no writable cgroup v1 memory hierarchy: only process groups shown")
	}
}

// TestKeeperReplaced kills the keeper: the Supervisor's side starts a new
// one and tells it every target again, so that the new one kills what the
// old one knew of.
func TestKeeperReplaced(t *testing.T) {
	logs := newRecorder[logRecord]()
	k, err := startKeeper(testExe(t), slog.New(recordHandler{rec: logs}))
	if err != nil {
		t.Fatal(err)
	}
	sleeper := startSleeper(t)
	k.add(keeperMsg{ID: "1-web-1", PGID: sleeper.Process.Pid})
	k.add(keeperMsg{ID: "2-web-2", PGID: 99999}) // deleted below: never killed
	k.del("2-web-2")
	k.mu.Lock()
	first := k.proc.Pid
	k.mu.Unlock()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec, _ := logs.wait(t, 0, "second keeper", func(r logRecord) bool {
		return r.Msg == "keeper started" && r.Attrs["pid"] != strconv.Itoa(first)
	})
	if rec.Attrs["targets"] != "1" {
		t.Errorf("new keeper started with %s targets; want 1", rec.Attrs["targets"])
	}
	if dead(sleeper.Process.Pid, 0) {
		t.Fatalf("target %d killed when its keeper was", sleeper.Process.Pid)
	}
	// Closing with a target left is a bug upstream; the keeper still kills it.
	if err := k.close(); err != nil {
		t.Errorf("close() = %v", err)
	}
	if !dead(sleeper.Process.Pid, waitTimeout) {
		t.Errorf("target %d alive after the new keeper's pipe closed", sleeper.Process.Pid)
	}
}

// TestRunEndsKeeper: when Run ends normally it stops every instance, and
// the keeper, told that nothing is left, exits without killing anything.
func TestRunEndsKeeper(t *testing.T) {
	logs := newRecorder[logRecord]()
	sup, err := New(Options{KeeperPath: testExe(t), Logger: slog.New(recordHandler{rec: logs})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()
	in, err := sup.Start(ctx, helperSpec("web-1", "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	pid := in.Status().PID
	sup.keeper.mu.Lock()
	keeper := sup.keeper.proc.Pid
	sup.keeper.mu.Unlock()
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if !dead(pid, 0) || !dead(keeper, 0) {
		t.Errorf("after Run: instance %d dead %v, keeper %d dead %v; want both gone", pid, dead(pid, 0), keeper, dead(keeper, 0))
	}
	for _, r := range logs.all() {
		// Another run's leftover cgroup, swept at start, is not this run's
		// doing: tests of other packages start and kill tandems beside it.
		if r.Level >= slog.LevelWarn && r.Msg != "removed cgroup of a previous run" {
			t.Errorf("log %s %q %v; want no warning", r.Level, r.Msg, r.Attrs)
		}
	}
	checkNoGoroutines(t)
}

// TestRunFailsWithoutKeeper: a KeeperPath that is missing, or that is not
// a tandem binary, fails Run with the reason.
func TestRunFailsWithoutKeeper(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want error
	}{
		{filepath.Join(t.TempDir(), "no-tandem"), fs.ErrNotExist},
		{"/bin/true", ErrNotKeeper},
	}
	for _, tt := range tests {
		sup, err := New(Options{KeeperPath: tt.path})
		if err != nil {
			t.Fatal(err)
		}
		if err := sup.Run(context.Background()); !errors.Is(err, tt.want) {
			t.Errorf("Run() with keeper %s = %v; want %v", tt.path, err, tt.want)
		}
		if _, err := sup.Start(context.Background(), helperSpec("web-1", "sleep")); !errors.Is(err, ErrClosed) {
			t.Errorf("Start() after a failed Run = %v; want ErrClosed", err)
		}
	}
}
