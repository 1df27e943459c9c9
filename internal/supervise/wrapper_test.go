package supervise

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wrapperSpec returns a Spec that starts the "serve" helper the way many
// apps are started: through a shell that runs the real server as its child
// (serve.sh, sh -c '... & wait'), so the instance's process is the shell.
// With ignoreTerm, both the shell and the server ignore SIGTERM.
func wrapperSpec(name string, ignoreTerm bool) Spec {
	spec := helperSpec(name, "serve")
	script := `"$0" -test.run='^$' & wait`
	if ignoreTerm {
		script = `trap '' TERM; ` + script
		spec.Env = append(spec.Env, "HELPER_IGNORE_TERM=1")
	}
	spec.Command = []string{"/bin/sh", "-c", script, spec.Command[0]}
	return spec
}

// waitServing waits from log index from on for instance name's server to
// listen, checks that it answers, and returns the index after the line.
func (h *harness) waitServing(t *testing.T, from int, name string) (next int) {
	t.Helper()
	rec, next := h.logs.wait(t, from, name+" listening", func(r logRecord) bool {
		return r.Msg == "instance output" && r.Attrs["instance"] == name && strings.HasPrefix(r.Attrs["line"], "listening ")
	})
	addr := strings.TrimPrefix(rec.Attrs["line"], "listening ")
	client := &http.Client{Timeout: waitTimeout}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "pid ") {
		t.Fatalf("GET %s = %d %q, %v; want 200 pid", addr, resp.StatusCode, body, err)
	}
	return next
}

// TestWrapperRestartsAfterKill SIGKILLs the shell of an app started
// through a wrapper, as an operator's kill -9 would: the server it left
// behind is killed with the instance's cgroup, and the instance must start
// again and serve, not crash-loop.
func TestWrapperRestartsAfterKill(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	in := h.start(t, wrapperSpec("web-1", false))
	logs := h.waitServing(t, 0, "web-1")
	for round := range 3 {
		wrapper := in.Status().PID
		if err := syscall.Kill(wrapper, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		logs = h.waitServing(t, logs, "web-1")
		if st := in.Status(); st.PID == wrapper || st.Restarts != round+1 || st.CrashLoop {
			t.Fatalf("round %d: Status() = %+v, last exit %+v; want a new process, %d restarts, no crash loop", round, st, st.LastExit, round+1)
		}
	}
}

// TestWrapperRestartsAfterGraceOverrun restarts a wrapper-started instance
// that ignores SIGTERM: after the grace the whole cgroup is SIGKILLed, and
// the instance must start again and serve.
func TestWrapperRestartsAfterGraceOverrun(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	spec := wrapperSpec("web-1", true)
	spec.StopGrace = 200 * time.Millisecond
	in := h.start(t, spec)
	logs := h.waitServing(t, 0, "web-1")
	for round := range 2 {
		if err := in.Restart(fmt.Sprintf("round %d", round)); err != nil {
			t.Fatal(err)
		}
		logs = h.waitServing(t, logs, "web-1")
		st := in.Status()
		if st.Restarts != round+1 || st.CrashLoop || st.LastExit == nil || st.LastExit.Signal != syscall.SIGKILL {
			t.Fatalf("round %d: Status() = %+v, last exit %+v; want %d restarts after SIGKILL, no crash loop", round, st, st.LastExit, round+1)
		}
	}
	_ = os.Getpid
}
