package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startStandin starts a helper process that stands in for tandem (see
// helperStandin) and returns it with the pids of its instance, the
// instance's child in its process group, the child in a session of its
// own, and the keeper.
func startStandin(t *testing.T, env ...string) (standin *exec.Cmd, pids []int, keeper int) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pids")
	standin = startHelperProcess(t, "standin", append([]string{"HELPER_PIDFILE=" + pidfile, "HELPER_KEEPER=1"}, env...)...)
	pids = waitPidfile(t, pidfile, standin)
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(pidfile + ".keeper")
		if err == nil {
			if keeper, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return standin, pids, keeper
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no keeper pid from the stand-in")
		}
	}
}

// TestKeeperKillsWhenSupervisorDies SIGKILLs a process standing in for
// tandem, with a keeper: every process of its instance, the grandchild
// that left the process group for a session of its own included, must be
// gone soon after, without any other tandem starting, and the keeper must
// exit once done.
func TestKeeperKillsWhenSupervisorDies(t *testing.T) {
	standin, pids, keeper := startStandin(t)
	bystander := startSleeper(t)
	begin := time.Now()
	if err := standin.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = standin.Wait()
	for i, pid := range pids {
		if !dead(pid, waitTimeout) {
			t.Errorf("process %d (%d of %v) alive after the supervisor was killed", pid, i, pids)
		}
	}
	t.Logf("instance processes gone %v after the kill", time.Since(begin).Round(time.Millisecond))
	if !dead(keeper, waitTimeout) {
		t.Errorf("keeper %d still running after doing its job", keeper)
	}
	if dead(bystander.Process.Pid, 0) {
		t.Errorf("process %d, not tandem's, was killed", bystander.Process.Pid)
	}
}

// TestKeeperWithoutCgroups: without a cgroup, the keeper kills the
// instance's process group; a descendant that left it for a session of
// its own cannot be found.
func TestKeeperWithoutCgroups(t *testing.T) {
	standin, pids, keeper := startStandin(t, "HELPER_NO_CGROUPS="+t.TempDir())
	t.Cleanup(func() { _ = syscall.Kill(pids[2], syscall.SIGKILL) })
	if err := standin.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = standin.Wait()
	for _, pid := range pids[:2] {
		if !dead(pid, waitTimeout) {
			t.Errorf("process %d of the instance's process group alive after the supervisor was killed", pid)
		}
	}
	if !dead(keeper, waitTimeout) {
		t.Errorf("keeper %d still running after doing its job", keeper)
	}
	if dead(pids[2], 0) {
		t.Errorf("process %d in a session of its own was killed; the keeper was not told of it", pids[2])
	}
}
