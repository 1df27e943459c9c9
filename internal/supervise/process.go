package supervise

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// outputDrain bounds how long output is still read after a process was
	// reaped: a descendant that escaped the cgroup may hold the pipes open.
	outputDrain = time.Second
	// defaultPath is searched for a command without a slash when Spec.Env
	// has no PATH.
	defaultPath = "/usr/local/bin:/usr/bin:/bin"
)

// process is one OS process of an instance, from fork (or adoption) to
// reap, with the cgroup made for it.
type process struct {
	id      string // names it for the keeper; its cgroup's name
	proc    *os.Process
	pid     int
	started time.Time
	cg      *instanceCgroup // nil: no cgroup
	watch   *exitWatch
	exited  chan struct{}  // watch.exited: closed when the process has exited; it is not reaped yet
	pipes   [2]*os.File    // read ends of stdout and stderr
	readers sync.WaitGroup // the goroutines reading pipes
}

// spawnOptions say how the Supervisor forks.
type spawnOptions struct {
	// pdeathsig gives children SIGKILL as parent-death signal: only
	// without a keeper; see Supervisor.spawnOptions.
	pdeathsig bool
}

// startProcess forks spec's command on the spawner's thread, in its own
// process group and in cgroup ic, and sends its output lines to emit, which
// is called from two goroutines (stdout and stderr) until reap returns. The
// caller must call reap once exited is closed.
func startProcess(sp *spawner, spec *Spec, ic *instanceCgroup, so spawnOptions, emit func(stream, line string)) (*process, error) {
	path, err := lookCommand(spec)
	if err != nil {
		return nil, err
	}
	if spec.Dir != "" {
		// The child's chdir would fail with an error that names the program.
		if _, err := os.Stat(spec.Dir); err != nil {
			return nil, fmt.Errorf("dir %q: %w", spec.Dir, unwrapPath(err))
		}
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_, _ = outR.Close(), outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	attr := &os.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: []*os.File{devNull, outW, errW}}
	var proc *os.Process
	sp.do(func() { proc, err = spawn(path, spec.Command, attr, ic, so) })
	_, _ = outW.Close(), errW.Close() // the child has its copies
	if err != nil {
		_, _ = outR.Close(), errR.Close()
		return nil, err
	}
	p := newProcess(proc, time.Now(), ic, [2]*os.File{outR, errR})
	p.read(emit)
	return p, nil
}

// newProcess starts watching proc's exit; read starts reading its output.
func newProcess(proc *os.Process, started time.Time, ic *instanceCgroup, pipes [2]*os.File) *process {
	w := watchExit(proc.Pid)
	return &process{proc: proc, pid: proc.Pid, started: started, cg: ic, watch: w, exited: w.exited, pipes: pipes}
}

// spawn starts the process and puts it into its cgroup. It runs on the
// spawner's thread (see spawner for why).
func spawn(path string, argv []string, attr *os.ProcAttr, ic *instanceCgroup, so spawnOptions) (*os.Process, error) {
	sys := &syscall.SysProcAttr{Setpgid: true}
	if so.pdeathsig {
		sys.Pdeathsig = syscall.SIGKILL
	}
	attr.Sys = sys
	fd := ic.cgroupFD()
	if fd >= 0 {
		// Start inside the cgroup (clone3 CLONE_INTO_CGROUP), so that no
		// child of the program can be forked outside it.
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	// cgroup v1 has no CLONE_INTO_CGROUP, but a child is born in the
	// cgroups of the thread that forks it, and v1 moves single threads:
	// this thread joins the v1 cgroup for the fork and leaves it after.
	inV1, enterErr := ic.enterV1()
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil && fd >= 0 {
		// Kernels before 5.7 and some sandboxes refuse clone3 into a
		// cgroup; if that was the problem, join by pid from now on.
		sys.UseCgroupFD, sys.CgroupFD = false, 0
		if proc, err = os.StartProcess(path, argv, attr); err == nil {
			ic.refuseFD()
			fd = -1
		}
	}
	leaveErr := ic.leaveV1(inV1)
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", argv[0], unwrapPath(err))
	}
	err = leaveErr
	if err == nil {
		err = ic.join(proc.Pid, fd >= 0, inV1)
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		// Running outside its cgroup would leave the limit unenforced and
		// descendants untracked; fail the start instead.
		_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
		_, _ = proc.Wait()
		return nil, fmt.Errorf("join cgroup: %w", errors.Join(enterErr, err))
	}
	return proc, nil
}

// read starts the goroutines that read the process's output.
func (p *process) read(emit func(stream, line string)) {
	p.readers.Add(2)
	for i, stream := range []string{"stdout", "stderr"} {
		go func() {
			defer p.readers.Done()
			// The error is a deadline or a closed pipe; output ends anyway.
			_ = readLines(p.pipes[i], MaxLineBytes, func(line string) { emit(stream, line) })
		}()
	}
}

// signal sends sig to the process group, or to the process alone if it
// left its group.
func (p *process) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = p.proc.Signal(sig)
	}
	return err
}

// kill SIGKILLs the process group and everything in the cgroup.
func (p *process) kill() error {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // ESRCH: the group is gone
	return p.cg.killAll()
}

// reap kills what is left of the process group and the cgroup (an instance
// is all of its processes: a descendant must not outlive the instance),
// calls killed, reaps the process and waits for its output to end. It must
// be called once, after exited was closed. state is nil if the process
// could not be reaped; err reports what went wrong. killed runs while the
// exited process is not reaped yet, so its process group id cannot have
// been reused.
func (p *process) reap(killed func()) (state *os.ProcessState, err error) {
	killErr := p.kill()
	killed()
	p.watch.stop()
	state, err = p.proc.Wait()
	deadline := time.Now().Add(outputDrain)
	for _, f := range p.pipes {
		_ = f.SetReadDeadline(deadline)
	}
	p.readers.Wait()
	for _, f := range p.pipes {
		_ = f.Close()
	}
	return state, errors.Join(err, killErr)
}

// detach stops watching and reading the process without touching it, for
// a handover, and returns duplicates of its output pipes, close-on-exec
// and owned by no *os.File. A partly read output line is logged as it is.
func (p *process) detach() (stdout, stderr int, err error) {
	p.watch.stop()
	for _, f := range p.pipes {
		_ = f.SetReadDeadline(time.Unix(1, 0))
	}
	p.readers.Wait()
	fds := [2]int{-1, -1}
	for i, f := range p.pipes {
		if fds[i], err = dupFile(f); err != nil {
			break
		}
	}
	for _, f := range p.pipes {
		_ = f.Close()
	}
	if err != nil {
		for _, fd := range fds {
			if fd >= 0 {
				_ = unix.Close(fd)
			}
		}
		return -1, -1, fmt.Errorf("detach process %d: %w", p.pid, err)
	}
	return fds[0], fds[1], nil
}

// adoptProcess takes over process pid, a child of this process handed
// over by a Supervisor that ran before an exec, with its output pipes.
func adoptProcess(pid int, started time.Time, ic *instanceCgroup, stdout, stderr int) (*process, error) {
	if !isChild(pid) {
		return nil, fmt.Errorf("adopt process %d: not a child of this process", pid)
	}
	var pipes [2]*os.File
	for i, fd := range []int{stdout, stderr} {
		f, err := adoptFile(fd, "output")
		if err != nil {
			if pipes[0] != nil {
				_ = pipes[0].Close()
			}
			return nil, fmt.Errorf("adopt process %d: output: %w", pid, err)
		}
		pipes[i] = f
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("adopt process %d: %w", pid, err)
	}
	return newProcess(proc, started, ic, pipes), nil
}

// lookCommand returns the path of spec's program: a name with a slash as
// it is (relative to Dir, where the child starts), others looked up in the
// PATH of spec.Env.
func lookCommand(spec *Spec) (string, error) {
	name := spec.Command[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathList := defaultPath
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v // the last one wins, as in getenv
		}
	}
	for _, dir := range filepath.SplitList(pathList) {
		p := filepath.Join(cmp.Or(dir, "."), name)
		if !filepath.IsAbs(p) && spec.Dir != "" {
			p = filepath.Join(spec.Dir, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			if !strings.Contains(p, "/") {
				p = "./" + p
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: %w", name, exec.ErrNotFound)
}

func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
