package supervise

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPdeathsig SIGKILLs a helper process standing in for tandem: its child
// must die with it (Pdeathsig), and the next Supervisor must kill the
// grandchildren left in the stale cgroup and remove it.
func TestPdeathsig(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	standin := startHelperProcess(t, "standin", "HELPER_PIDFILE="+pidfile)
	pids := waitPidfile(t, pidfile, standin)
	if err := standin.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = standin.Wait()
	if !dead(pids[0], waitTimeout) {
		t.Fatalf("child %d of the killed stand-in still alive", pids[0])
	}
	h := startSupervisor(t, Options{})
	<-h.sup.ready
	if h.sup.cg.v2Run == "" && h.sup.cg.v1Run == "" {
		t.Skip("no writable cgroup: grandchildren of a killed tandem cannot be found")
	}
	for _, pid := range pids[1:] {
		if !dead(pid, waitTimeout) {
			t.Errorf("grandchild %d (of %v) alive after the next Supervisor started; logs %v", pid, pids, h.logs.all())
		}
	}
	h.logs.wait(t, 0, "stale cgroup log line", func(r logRecord) bool {
		return r.Msg == "removed cgroup of a previous run" && strings.Contains(r.Attrs["path"], "run-"+strconv.Itoa(standin.Process.Pid)+"-")
	})
}

// waitPidfile waits for the pidfile a helper writes.
func waitPidfile(t *testing.T, path string, cmd *exec.Cmd) []int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return readPidfile(t, path)
		}
		if time.Now().After(deadline) || dead(cmd.Process.Pid, 0) {
			t.Fatalf("no pidfile from the helper")
		}
		time.Sleep(10 * time.Millisecond) // written by another process: nothing to wait on
	}
}

// TestPdeathsigSurvivesThreadExit starts an instance from a goroutine whose
// OS thread then exits (golang/go#27505): the child must live on.
func TestPdeathsigSurvivesThreadExit(t *testing.T) {
	t.Parallel()
	h := startSupervisor(t, Options{})
	type result struct {
		in  *Instance
		tid int
		err error
	}
	var r result
	for i := 0; ; i++ {
		res := make(chan result)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			in, err := h.sup.Start(context.Background(), helperSpec("web-"+strconv.Itoa(i), "sleep"))
			res <- result{in, syscall.Gettid(), err}
		}()
		if r = <-res; r.err != nil {
			t.Fatal(r.err)
		}
		if r.tid != os.Getpid() {
			break
		}
		// Go never ends the main thread, so that try proves nothing.
		if err := r.in.Stop(ctxTimeout(t)); err != nil {
			t.Fatal(err)
		}
	}
	task := filepath.Join("/proc/self/task", strconv.Itoa(r.tid))
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d did not exit", r.tid)
		}
	}
	pid := r.in.Status().PID
	if dead(pid, 200*time.Millisecond) {
		t.Fatalf("child %d died when the thread that called Start exited", pid)
	}
}

// TestSpawnerOneThread checks that the spawner forks on one thread, whatever
// the thread of its caller, and that the thread outlives callers' threads.
func TestSpawnerOneThread(t *testing.T) {
	sp := newSpawner()
	go sp.run()
	defer func() { sp.close(); <-sp.done }()
	var first int
	sp.do(func() { first = syscall.Gettid() })
	for range 5 {
		done := make(chan int)
		go func() {
			runtime.LockOSThread() // this caller's thread exits with it
			var tid int
			sp.do(func() { tid = syscall.Gettid() })
			done <- tid
		}()
		if tid := <-done; tid != first {
			t.Fatalf("do ran on thread %d; want the spawner's %d", tid, first)
		}
	}
	if _, err := os.Stat(filepath.Join("/proc/self/task", strconv.Itoa(first))); err != nil {
		t.Errorf("spawner thread: %v", err)
	}
}
