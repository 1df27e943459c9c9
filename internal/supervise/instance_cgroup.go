package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupKillTimeout bounds how long killing a cgroup's processes may take.
const cgroupKillTimeout = 5 * time.Second

// instanceCgroup is the cgroup made for one process of an instance: its
// directory in each hierarchy the Supervisor uses. Each start of an
// instance gets a new one, removed once the process and its descendants
// are gone: a v2 cgroup that was killed through cgroup.kill SIGKILLs every
// process later cloned into it on some kernels, so a cgroup is never
// reused. A nil *instanceCgroup means the process has no cgroup; its
// methods then do nothing.
type instanceCgroup struct {
	cg    *cgroups // the run it belongs to
	name  string   // its directory's name, unique in the run
	v2Dir string   // directory in the v2 hierarchy; "" = none
	v2FD  *os.File // v2Dir, open for CLONE_INTO_CGROUP; nil = join by pid
	v1Dir string   // directory in the v1 memory hierarchy; "" = none
	// memDir is the directory whose memory files count OOM kills;
	// "" = none. memV1 says which hierarchy it is in.
	memDir string
	memV1  bool
}

// cgroupFD returns the descriptor for SysProcAttr.CgroupFD, or -1 when the
// child must be moved into the cgroup by pid after it started.
func (ic *instanceCgroup) cgroupFD() int {
	if ic == nil || ic.v2FD == nil {
		return -1
	}
	return int(ic.v2FD.Fd())
}

// closeFD closes the descriptor for CLONE_INTO_CGROUP once the process is
// started.
func (ic *instanceCgroup) closeFD() {
	if ic != nil && ic.v2FD != nil {
		_ = ic.v2FD.Close() // read-only directory: nothing to lose
		ic.v2FD = nil
	}
}

// refuseFD records that the kernel refuses CLONE_INTO_CGROUP: later
// processes join their v2 cgroup by pid.
func (ic *instanceCgroup) refuseFD() {
	if ic != nil {
		ic.cg.noCloneInto.Store(true)
		ic.closeFD()
	}
}

// enterV1 moves the calling thread into the v1 cgroup, so that the child
// it forks next is born there. It must run on a thread locked to its
// goroutine (the spawner's), and leaveV1 must follow the fork. entered is
// false where the thread stays where it is: no v1 cgroup, no known cgroup
// to return to, or the move failed (err says why; the child then joins
// by pid after it started).
func (ic *instanceCgroup) enterV1() (entered bool, err error) {
	if ic == nil || ic.v1Dir == "" || ic.cg.v1Home == "" {
		return false, nil
	}
	if err := writeCgroupFile(ic.v1Dir, "tasks", strconv.Itoa(unix.Gettid())); err != nil {
		return false, err
	}
	return true, nil
}

// leaveV1 moves the calling thread back to tandem's own v1 cgroup after
// enterV1. The thread must not stay: tandem would be charged to the
// instance and, being listed in it, be killed with it.
func (ic *instanceCgroup) leaveV1(entered bool) error {
	if !entered {
		return nil
	}
	if err := writeCgroupFile(ic.cg.v1Home, "tasks", strconv.Itoa(unix.Gettid())); err != nil {
		return fmt.Errorf("leave cgroup: %w", err)
	}
	return nil
}

// join moves process pid into the directories it was not born in: the v1
// one unless the fork happened inside it (inV1), the v2 one unless it was
// started there (inV2). It runs right after the fork, so the program has
// hardly begun and has not started children of its own yet.
func (ic *instanceCgroup) join(pid int, inV2, inV1 bool) error {
	if ic == nil {
		return nil
	}
	var errs []error
	for _, dir := range []string{ic.v1Dir, ic.v2Dir} {
		if dir == "" || (dir == ic.v2Dir && inV2) || (dir == ic.v1Dir && inV1) {
			continue
		}
		if err := writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dirs returns the cgroup's directories, for the keeper.
func (ic *instanceCgroup) dirs() []string {
	if ic == nil {
		return nil
	}
	var out []string
	for _, dir := range []string{ic.v2Dir, ic.v1Dir} {
		if dir != "" {
			out = append(out, dir)
		}
	}
	return out
}

// memCounters are what the kernel counts about memory in a cgroup.
type memCounters struct {
	oomKills    int64 // processes killed by the OOM killer
	hasOOMKills bool  // oomKills is known (v1 kernels before 4.13 lack it)
	failcnt     int64 // v1: times the limit was hit
}

// counters reads the memory counters; ok is false without a memory cgroup.
func (ic *instanceCgroup) counters() (c memCounters, ok bool) {
	if ic == nil || ic.memDir == "" {
		return c, false
	}
	file := "memory.events"
	if ic.memV1 {
		file = "memory.oom_control"
		c.failcnt, _ = readCgroupInt(ic.memDir, "memory.failcnt")
	}
	n, err := readCgroupKey(ic.memDir, file, "oom_kill")
	c.oomKills, c.hasOOMKills = n, err == nil
	return c, true
}

// killAll SIGKILLs every process in the cgroup and waits until it is empty.
func (ic *instanceCgroup) killAll() error {
	if ic == nil {
		return nil
	}
	var errs []error
	for _, dir := range ic.dirs() {
		if _, err := killCgroup(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remove kills what is left in the cgroup and removes its directories.
func (ic *instanceCgroup) remove() error {
	if ic == nil {
		return nil
	}
	ic.closeFD()
	var errs []error
	for _, dir := range ic.dirs() {
		if _, err := removeCgroupTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CgroupHandover is a process's cgroup in a Handover; all "" = none.
type CgroupHandover struct {
	Name   string `json:"name"`
	V2Dir  string `json:"v2_dir,omitempty"`
	V1Dir  string `json:"v1_dir,omitempty"`
	MemDir string `json:"mem_dir,omitempty"`
	MemV1  bool   `json:"mem_v1,omitempty"`
}

func (ic *instanceCgroup) handover() CgroupHandover {
	if ic == nil {
		return CgroupHandover{}
	}
	return CgroupHandover{Name: ic.name, V2Dir: ic.v2Dir, V1Dir: ic.v1Dir, MemDir: ic.memDir, MemV1: ic.memV1}
}

// adoptCgroup returns the cgroup described by h in run c; nil for none.
func (c *cgroups) adoptCgroup(h CgroupHandover) *instanceCgroup {
	if h.V2Dir == "" && h.V1Dir == "" {
		return nil
	}
	return &instanceCgroup{cg: c, name: h.Name, v2Dir: h.V2Dir, v1Dir: h.V1Dir, memDir: h.MemDir, memV1: h.MemV1}
}

// setMemoryLimit sets the memory limit of the cgroup dir (0 = none) and
// returns why it could not, or "". The limit covers swap too, so that an
// instance cannot escape it by swapping. On v2 the OOM killer kills the
// whole cgroup at once (memory.oom.group), so an instance is never left
// half-killed.
func setMemoryLimit(dir string, limit int64, v1 bool) (reason string) {
	if limit == 0 {
		return ""
	}
	n := strconv.FormatInt(limit, 10)
	if v1 {
		if err := writeCgroupFile(dir, "memory.limit_in_bytes", n); err != nil {
			return fmt.Sprintf("cgroup v1: %v", err)
		}
		// Absent without swap accounting; then swap is not limited.
		_ = writeCgroupFile(dir, "memory.memsw.limit_in_bytes", n)
		return ""
	}
	if err := writeCgroupFile(dir, "memory.max", n); err != nil {
		return fmt.Sprintf("cgroup v2: %v", err)
	}
	_ = writeCgroupFile(dir, "memory.swap.max", "0") // absent without swap
	_ = writeCgroupFile(dir, "memory.oom.group", "1")
	return ""
}

// killCgroup SIGKILLs every process in the cgroup dir, through cgroup.kill
// where the kernel has it (v2, Linux 5.14) and else one by one, and waits
// until the cgroup is empty. It returns how many processes it found.
func killCgroup(dir string) (found int, err error) {
	_, statErr := os.Stat(filepath.Join(dir, "cgroup.kill"))
	useKillFile := statErr == nil
	deadline := time.Now().Add(cgroupKillTimeout)
	pause := time.Millisecond
	for {
		populated, err := cgroupPopulated(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return found, nil
		case err != nil:
			return found, fmt.Errorf("kill cgroup %s: %w", dir, err)
		case !populated:
			return found, nil
		case time.Now().After(deadline):
			return found, fmt.Errorf("kill cgroup %s: processes left after SIGKILL", dir)
		}
		pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return found, fmt.Errorf("kill cgroup %s: %w", dir, err)
		}
		found = max(found, len(pids))
		if useKillFile {
			_ = writeCgroupFile(dir, "cgroup.kill", "1") // checked by the next round
		} else {
			for _, pid := range pids {
				// tandem's spawner thread is in a v1 cgroup while it forks
				// into it; tandem must never kill itself.
				if pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
				}
			}
		}
		// Dying takes a moment; a cgroup has no exit notification that
		// works on both versions, so poll.
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// cgroupPopulated reports whether a task is left in the cgroup dir. An
// empty cgroup.procs does not tell: on v2 it leaves out processes whose
// main thread has exited while other threads still exit, and those keep
// the cgroup busy. So v2 asks cgroup.events, and v1 lists threads (tasks).
func cgroupPopulated(dir string) (bool, error) {
	n, err := readCgroupKey(dir, "cgroup.events", "populated")
	if err == nil {
		return n != 0, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	tids, err := readPids(filepath.Join(dir, "tasks"))
	return len(tids) > 0, err
}

// removeCgroupTree kills the processes in dir and its descendants and removes
// them all, deepest first. A missing dir is not an error.
func removeCgroupTree(dir string) (killed int, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			n, err := removeCgroupTree(filepath.Join(dir, e.Name()))
			killed += n
			if err != nil {
				return killed, err
			}
		}
	}
	n, err := killCgroup(dir)
	killed += n
	if err != nil {
		return killed, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return killed, fmt.Errorf("remove cgroup: %w", err)
	}
	return killed, nil
}

// writeCgroupFile writes value to the existing file dir/name. The error
// names the file.
func writeCgroupFile(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

// readCgroupKey returns the number after key in a "key value" lines file
// such as memory.events.
func readCgroupKey(dir, name, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k == key {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("read %s: no %s", filepath.Join(dir, name), key)
}

func readCgroupInt(dir, name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

// readPids reads a cgroup.procs file.
func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
