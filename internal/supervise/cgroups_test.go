package supervise

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStatStartTime(t *testing.T) {
	tests := []struct {
		stat string
		want uint64
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100", 98765},
		{"1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 42 1000 100", 42},
		{"1234 (x) S 1", 0},
		{"garbage", 0},
	}
	for _, tt := range tests {
		if got := parseStatStartTime([]byte(tt.stat)); got != tt.want {
			t.Errorf("parseStatStartTime(%q) = %d; want %d", tt.stat, got, tt.want)
		}
	}
	if processStartTime("/proc", os.Getpid()) == 0 {
		t.Errorf("processStartTime(/proc, self) = 0; want > 0")
	}
}

func TestRunDirName(t *testing.T) {
	name, err := newRunDirName("/proc")
	if err != nil {
		t.Fatalf("newRunDirName: %v", err)
	}
	pid, start, ok := parseRunDirName(name)
	if !ok || pid != os.Getpid() || start != processStartTime("/proc", pid) {
		t.Errorf("parseRunDirName(%q) = %d, %d, %v; want this process", name, pid, start, ok)
	}
	for _, bad := range []string{"run-", "run-1-2", "run-x-2-ab", "1-web", "run-0-2-ab", "tandem.slice"} {
		if _, _, ok := parseRunDirName(bad); ok {
			t.Errorf("parseRunDirName(%q) ok; want not ok", bad)
		}
	}
}

func TestOwnV1Cgroup(t *testing.T) {
	proc := t.TempDir()
	if err := os.Mkdir(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	cg := "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpu,cpuacct:/x\n0::/\n"
	if err := os.WriteFile(filepath.Join(proc, "self", "cgroup"), []byte(cg), 0o644); err != nil {
		t.Fatal(err)
	}
	for controller, want := range map[string]string{"memory": "/process_api/abc", "cpuacct": "/x"} {
		if got, err := ownV1Cgroup(proc, controller); got != want || err != nil {
			t.Errorf("ownV1Cgroup(%s) = %q, %v; want %q", controller, got, err, want)
		}
	}
	if _, err := ownV1Cgroup(proc, "pids"); err == nil {
		t.Errorf("ownV1Cgroup(pids) = nil error; want one")
	}
}

func TestOpenCgroupsWithoutCgroups(t *testing.T) {
	fs := t.TempDir()
	h := startSupervisor(t, Options{})
	cg := openCgroups(cgroupConfig{fs: fs, proc: "/proc"}, h.sup.log)
	if cg.v2Run != "" || cg.v1Run != "" {
		t.Errorf("openCgroups(empty fs) uses %q, %q; want nothing", cg.v2Run, cg.v1Run)
	}
	want := "no writable cgroup memory controller (no cgroup v2 hierarchy at " + fs +
		"; no cgroup v1 memory hierarchy at " + fs + "/memory)"
	if cg.noMemory != want {
		t.Errorf("noMemory = %q; want %q", cg.noMemory, want)
	}
	ic, reason := cg.newInstance("1-web", 1<<20)
	if ic != nil || !strings.Contains(reason, "no writable cgroup memory controller") {
		t.Errorf("newInstance = %v, %q; want nil and the reason", ic, reason)
	}
	if _, reason := cg.newInstance("2-web", 0); reason != "" {
		t.Errorf("newInstance without limit: reason %q; want none", reason)
	}
}

func TestKillCgroupMissing(t *testing.T) {
	if n, err := killCgroup(filepath.Join(t.TempDir(), "gone")); n != 0 || err != nil {
		t.Errorf("killCgroup(missing) = %d, %v; want 0, nil", n, err)
	}
	if n, err := removeCgroupTree(filepath.Join(t.TempDir(), "gone")); n != 0 || err != nil {
		t.Errorf("removeCgroupTree(missing) = %d, %v; want 0, nil", n, err)
	}
}
