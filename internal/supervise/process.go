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

// process is one OS process of an instance, from fork to reap.
type process struct {
	proc    *os.Process
	pid     int
	started time.Time
	exited  chan struct{}  // closed when the process has exited; it is not reaped yet
	pipes   [2]*os.File    // read ends of stdout and stderr
	readers sync.WaitGroup // the goroutines reading pipes
}

// startProcess forks spec's command on the spawner's thread, in its own
// process group and in cgroup ic, and sends its output lines to emit, which
// is called from two goroutines (stdout and stderr) until reap returns. The
// caller must call reap once exited is closed.
func startProcess(sp *spawner, spec *Spec, ic *instanceCgroup, emit func(stream, line string)) (*process, error) {
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
	sp.do(func() { proc, err = spawn(path, spec.Command, attr, ic) })
	_, _ = outW.Close(), errW.Close() // the child has its copies
	if err != nil {
		_, _ = outR.Close(), errR.Close()
		return nil, err
	}
	p := &process{proc: proc, pid: proc.Pid, started: time.Now(), exited: make(chan struct{}), pipes: [2]*os.File{outR, errR}}
	go p.waitExit()
	p.readers.Add(2)
	go p.read(outR, "stdout", emit)
	go p.read(errR, "stderr", emit)
	return p, nil
}

// spawn starts the process and puts it into its cgroup. It runs on the
// spawner's thread (see spawner for why).
func spawn(path string, argv []string, attr *os.ProcAttr, ic *instanceCgroup) (*os.Process, error) {
	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	attr.Sys = sys
	fd := ic.cgroupFD()
	if fd >= 0 {
		// Start inside the cgroup (clone3 CLONE_INTO_CGROUP), so that no
		// child of the program can be forked outside it.
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil && fd >= 0 {
		// Kernels before 5.7 and some sandboxes refuse clone3 into a
		// cgroup; if that was the problem, join by pid from now on.
		sys.UseCgroupFD, sys.CgroupFD = false, 0
		if proc, err = os.StartProcess(path, argv, attr); err == nil {
			ic.noFD()
			fd = -1
		}
	}
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", argv[0], unwrapPath(err))
	}
	if err := ic.join(proc.Pid, fd >= 0); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Running outside its cgroup would leave the limit unenforced and
		// descendants untracked; fail the start instead.
		_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
		_, _ = proc.Wait()
		return nil, fmt.Errorf("join cgroup: %w", err)
	}
	return proc, nil
}

// waitExit closes exited when the process has exited, without reaping it:
// while it is a zombie its pid, and so its process group id, cannot be
// reused, which makes killing the group after the exit safe.
func (p *process) waitExit() {
	defer close(p.exited)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return // exited, or ECHILD: reaped already
		}
	}
}

func (p *process) read(r *os.File, stream string, emit func(stream, line string)) {
	defer p.readers.Done()
	// The error is the drain deadline or a closed pipe; output ends anyway.
	_ = readLines(r, MaxLineBytes, func(line string) { emit(stream, line) })
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
func (p *process) kill(ic *instanceCgroup) error {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // ESRCH: the group is gone
	return ic.killAll()
}

// reap kills what is left of the process group and the cgroup (an instance
// is all of its processes: a descendant must not outlive the instance),
// reaps the process and waits for its output to end. It must be called
// once, after exited was closed. state is nil if the process could not be
// reaped; err reports what went wrong.
func (p *process) reap(ic *instanceCgroup) (state *os.ProcessState, err error) {
	killErr := p.kill(ic)
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
