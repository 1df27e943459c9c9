package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// memoryCgroup returns the cgroup of process pid (0: this process) in the
// v1 memory hierarchy, from /proc.
func memoryCgroup(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if parts := strings.SplitN(strings.TrimSpace(line), ":", 3); len(parts) == 3 && parts[1] == "memory" {
			return parts[2]
		}
	}
	t.Fatalf("%s: no memory line in %q", path, b)
	return ""
}

// TestV1CgroupFromBirth starts, through a wrapper, a program whose very
// first act is to fork a child that prints its memory cgroup. On cgroup
// v1 the process must be in the instance's memory cgroup before it runs
// its program, so that child is inside too, every time; and tandem's own
// threads must all be back in tandem's cgroup afterwards. It runs alone:
// another test's supervisor starting an instance meanwhile has a thread
// of this process in that instance's cgroup for the moment of the fork.
func TestV1CgroupFromBirth(t *testing.T) {
	h := startSupervisor(t, Options{})
	<-h.sup.ready
	cg := h.sup.cg
	if cg.v1Run == "" || cg.v1Home == "" {
		t.Skip("no writable cgroup v1 memory hierarchy")
	}
	root := filepath.Join("/sys/fs/cgroup", "memory")
	runRel := strings.TrimPrefix(cg.v1Run, root)
	own := memoryCgroup(t, "/proc/self/cgroup")

	spec := helperSpec("web-1", "sleep")
	spec.Command = []string{"/bin/sh", "-c", "/bin/grep -h :memory: /proc/self/cgroup & wait; exec /bin/sleep 600"}
	in := h.start(t, spec)
	logs := 0
	const rounds = 20
	for round := range rounds {
		var rec logRecord
		rec, logs = h.logs.wait(t, logs, "memory line", func(r logRecord) bool {
			return r.Msg == "instance output" && strings.Contains(r.Attrs["line"], ":memory:")
		})
		child := strings.SplitN(rec.Attrs["line"], ":", 3)[2]
		if filepath.Dir(child) != runRel {
			t.Fatalf("round %d: the wrapper's first child ran in memory cgroup %q; want one in %q", round, child, runRel)
		}
		if round < rounds-1 {
			if err := in.Restart("next round"); err != nil {
				t.Fatal(err)
			}
		}
	}
	pid := in.Status().PID
	if got := memoryCgroup(t, "/proc/"+strconv.Itoa(pid)+"/cgroup"); filepath.Dir(got) != runRel {
		t.Errorf("instance process in memory cgroup %q; want one in %q", got, runRel)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if got := memoryCgroup(t, filepath.Join("/proc/self/task", task.Name(), "cgroup")); got != own {
			t.Errorf("thread %s of tandem in memory cgroup %q; want tandem's %q", task.Name(), got, own)
		}
	}
}

// TestMemoryLimitCoversWrapperChild runs a server that allocates without
// end under a wrapper shell: the limit must cover the server (the child),
// not only the shell, and its OOM kill must be counted.
func TestMemoryLimitCoversWrapperChild(t *testing.T) {
	t.Parallel()
	h, spec := oomSpec(t)
	spec.Command = []string{"/bin/sh", "-c", `"$0" -test.run='^$' & wait`, spec.Command[0]}
	in := h.start(t, spec)
	ev, _ := h.events.wait(t, 0, "exit", func(ev Event) bool {
		return ev.Kind == EventExited || ev.Kind == EventOOMKilled
	})
	st := in.Status()
	if st.OOMKills < 1 {
		t.Errorf("exit %+v, Status() = %+v; want the server's OOM kill counted", ev, st)
	}
	h.logs.wait(t, 0, "OOM log line", func(r logRecord) bool {
		return (r.Msg == "instance killed by the OOM killer" || r.Msg == "instance process killed by the OOM killer") && r.Attrs["instance"] == "web-1"
	})
}
