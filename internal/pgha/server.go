package pgha

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server runs a member's postmaster and PostgreSQL's programs as the
// postgres user.
type server struct {
	inst Install
	l    layout
	// exited is called (from the process's goroutine) when the postmaster
	// exits, so the member looks at once.
	exited func()

	wg sync.WaitGroup // the goroutine of each postmaster started

	mu   sync.Mutex // guards the fields below
	cmd  *exec.Cmd  // the last postmaster started; nil before the first
	done chan struct{}
	// exit says how the last postmaster ended: its status and the end of
	// its log; "" until read by takeExit.
	exit string
}

// env is the environment of PostgreSQL's processes: nothing of tandem's.
func (s *server) env(extra ...string) []string {
	return append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + s.l.root,
		"PGPASSFILE=" + s.l.pgpass(),
	}, extra...)
}

func (s *server) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: s.inst.UID, Gid: s.inst.GID},
		Setpgid:    true,
	}
}

// start starts the postmaster on the data directory. It returns once the process runs; readiness is
// observed through queries. The postmaster gets SIGQUIT (an immediate
// shutdown) if tandem dies, so that a primary never outlives the process
// that renews its lease.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		return nil
	}
	logf, err := os.OpenFile(s.l.logFile(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	cmd := exec.Command(s.inst.bin("postgres"), "-D", s.l.data())
	attr := s.sysProcAttr()
	attr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr, cmd.Dir, cmd.Env = attr, s.l.root, s.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	started := make(chan error, 1)
	done := make(chan struct{})
	s.wg.Go(func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// the process: this goroutine keeps its thread until postgres
		// exits, and the thread ends with it (never unlocked).
		runtime.LockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			close(done)
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		logTail, _ := readTail(s.l.logFile(), 4096)
		s.mu.Lock()
		s.exit = fmt.Sprintf("%v: %s", err, tail(logTail, 3))
		s.mu.Unlock()
		close(done)
		if s.exited != nil {
			s.exited()
		}
	})
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.done = cmd, done
	return nil
}

func (s *server) runningLocked() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// running reports whether the postmaster tandem started still runs.
func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

// pid is the running postmaster's process id, 0 if none.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return 0
	}
	return s.cmd.Process.Pid
}

// stop shuts the postmaster down: immediate (SIGQUIT: no checkpoint, every
// connection dropped at once) or fast (SIGINT: a shutdown checkpoint,
// after walsenders have sent everything). It escalates to SIGKILL when the
// shutdown takes longer than timeout, and returns once the process exited.
func (s *server) stop(immediate bool, timeout time.Duration) error {
	s.mu.Lock()
	if !s.runningLocked() {
		s.mu.Unlock()
		return nil
	}
	proc, done := s.cmd.Process, s.done
	s.mu.Unlock()
	sig := syscall.SIGINT
	if immediate {
		sig = syscall.SIGQUIT
	}
	if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop postgres: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	proc.Kill()
	select {
	case <-done:
		return fmt.Errorf("stop postgres: did not stop within %s; killed", timeout)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("stop postgres: pid %d survives SIGKILL", proc.Pid)
	}
}

// takeExit returns how the last postmaster ended, once.
func (s *server) takeExit() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.exit
	s.exit = ""
	return e
}

// readTail returns up to n bytes of the end of a file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(buf, off)
	return buf, err
}

// wait returns when every postmaster started has exited.
func (s *server) wait() { s.wg.Wait() }

// program runs one of PostgreSQL's programs as the postgres user until it
// ends or ctx does, and returns its output. A failure carries the end of
// the output, where PostgreSQL's programs say why.
func (s *server) program(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.inst.bin(name), args...)
	cmd.SysProcAttr, cmd.Dir, cmd.Env = s.sysProcAttr(), s.l.root, s.env()
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return out.Bytes(), fmt.Errorf("%s: %w: %s", name, err, tail(out.Bytes(), 3))
	}
	return out.Bytes(), nil
}

// tail returns the last n non-empty lines of out, joined.
func tail(out []byte, n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
