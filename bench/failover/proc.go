package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// proc is one process the benchmark started: a tandem node, a Patroni
// node or etcd. Only processes the benchmark started, and their
// descendants, are ever signalled.
type proc struct{ *host.Proc }

// procSpec says what to start.
type procSpec struct {
	name string
	argv []string
	env  []string // added to a minimal environment
	log  string   // appended to
	cred *syscall.Credential
}

// startProc starts spec. Its wait goroutine ends when the process exits;
// stop (or a crash and wait) sees to that.
func startProc(spec procSpec) (*proc, error) {
	p, err := host.StartProc(host.ProcSpec{Name: spec.name, Argv: spec.argv, Log: spec.log, Cred: spec.cred,
		Env: append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"}, spec.env...)})
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// stop sends SIGTERM to the process group, waits up to grace, then
// SIGKILLs the group and every descendant (a postmaster has a group of
// its own). Safe to call on a process that already exited.
func (p *proc) stop(grace time.Duration) {
	if !p.Exited() {
		syscall.Kill(-p.Pid(), syscall.SIGTERM) //nolint:errcheck // ESRCH: gone already
		p.Wait(grace)                           //nolint:errcheck // killed below
	}
	if !p.Exited() {
		killTree([]int{p.Pid()}, syscall.SIGKILL)
	}
	syscall.Kill(-p.Pid(), syscall.SIGKILL) //nolint:errcheck // ESRCH: nothing left in the group
	p.Wait(10 * time.Second)                //nolint:errcheck // the kernel reaps it; nothing more to do
}

// crash freezes and then kills the processes of roots and all their
// descendants, the way a machine dies: every process is first stopped
// (SIGSTOP, repeated until no new descendant appears), so none can react
// to another's death (PostgreSQL's postmaster gets SIGQUIT when tandem
// dies, tandem sees its postmaster exit), then all get SIGKILL. It
// returns the instant the first process was stopped.
func crash(roots []int) (time.Time, []int, error) {
	at := time.Now()
	stopped := map[int]bool{}
	var order []int
	for range 10 {
		fresh := 0
		for _, pid := range descendantsOf(readParents(), roots) {
			if !stopped[pid] {
				syscall.Kill(pid, syscall.SIGSTOP) //nolint:errcheck // it may have exited
				stopped[pid] = true
				order = append(order, pid)
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
	}
	if len(order) == 0 {
		return at, nil, errors.New("crash: no process to kill")
	}
	for _, pid := range order {
		syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // it may have exited
	}
	return at, order, nil
}

// killTree signals roots and all their descendants.
func killTree(roots []int, sig syscall.Signal) {
	for _, pid := range descendantsOf(readParents(), roots) {
		syscall.Kill(pid, sig) //nolint:errcheck // it may have exited
	}
}

// readParents maps every process to its parent, from /proc/<pid>/stat.
func readParents() map[int]int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parents := make(map[int]int, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command (field 2) is in parentheses and may hold anything:
		// the state and the parent's pid follow the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if f := bytes.Fields(b[i+1:]); i >= 0 && len(f) >= 2 {
			if ppid, err := strconv.Atoi(string(f[1])); err == nil {
				parents[pid] = ppid
			}
		}
	}
	return parents
}

// descendantsOf lists roots (those still alive) and their descendants,
// parents before children.
func descendantsOf(parents map[int]int, roots []int) []int {
	children := map[int][]int{}
	for pid, ppid := range parents {
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if _, alive := parents[pid]; !alive || seen[pid] || pid <= 1 {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// postmasterPID reads a data directory's postmaster.pid and returns the
// pid in it if that process is a postgres running on that directory
// (never another process that reused the pid); 0 otherwise.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(dataDir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return 0
	}
	args := strings.Split(string(cmdline), "\x00")
	if len(args) == 0 || !strings.HasSuffix(args[0], "postgres") || !strings.Contains(string(cmdline), dataDir) {
		return 0
	}
	return pid
}

// stopPostmaster shuts down a postmaster a node left behind: a fast
// shutdown (SIGINT), then SIGKILL to it and its children after grace.
func stopPostmaster(dataDir string, grace time.Duration) {
	pid := postmasterPID(dataDir)
	if pid == 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGINT) //nolint:errcheck // it may have exited
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && postmasterPID(dataDir) == pid {
		time.Sleep(100 * time.Millisecond)
	}
	if postmasterPID(dataDir) == pid {
		killTree([]int{pid}, syscall.SIGKILL)
	}
}

// crashNode kills a node whose process is p and whose PostgreSQL runs on
// dataDir: p, the postmaster (found through postmaster.pid: tandem's has
// a process group of its own, Patroni's is detached) and all their
// descendants, frozen and killed together (see crash).
func crashNode(log io.Writer, name string, p *proc, dataDir string) (time.Time, error) {
	if p == nil || p.Exited() {
		return time.Time{}, fmt.Errorf("crash %s: not running", name)
	}
	pm := postmasterPID(dataDir)
	if pm == 0 {
		return time.Time{}, fmt.Errorf("crash %s: its postgres does not run", name)
	}
	at, pids, err := crash([]int{p.Pid(), pm})
	if err != nil {
		return at, fmt.Errorf("crash %s: %w", name, err)
	}
	fmt.Fprintf(log, "%s  SIGKILLed %s: %d processes\n", stamp(), name, len(pids))
	return at, p.Wait(10 * time.Second)
}

// stopNodes stops nodes all at once: SIGTERM to each (which stops its
// PostgreSQL), SIGKILL after 30 s, then a postmaster one left behind is
// shut down. procs[i] runs PostgreSQL on dataDirs[i]; nil ones never
// started.
func stopNodes(procs []*proc, dataDirs []string) {
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Go(func() {
			p.stop(30 * time.Second)
			stopPostmaster(dataDirs[i], 10*time.Second)
		})
	}
	wg.Wait()
}
