package supervise

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// keeperWriteTimeout bounds a write to the keeper's pipe. A keeper that
	// does not read for that long (stopped, hung) is replaced.
	keeperWriteTimeout = 5 * time.Second
	// keeperExitTimeout bounds the wait for the keeper to exit once told
	// that tandem is done; it is SIGKILLed after it.
	keeperExitTimeout = 5 * time.Second
	// keeperHelloTimeout bounds the wait for a new keeper's hello.
	keeperHelloTimeout = 10 * time.Second
	// keeperStable is how long a keeper must have run to be replaced at
	// once when it dies; one that dies sooner is replaced after a back-off
	// of up to keeperRetryMax.
	keeperStable   = 10 * time.Second
	keeperRetryMax = 30 * time.Second
)

// ErrNotKeeper: Options.KeeperPath did not start as a keeper (it did not
// say keeperHello): not a tandem binary, or one that lacks KeeperMain.
var ErrNotKeeper = errors.New("not a tandem keeper")

// keeperClient is a Supervisor's side of its keeper (see KeeperMain): it
// starts the keeper, tells it every target, starts a new one (and tells
// it everything again) if the keeper dies, and at the end either closes
// the pipe with nothing left to kill or hands the keeper over.
type keeperClient struct {
	path string // the binary run as `path KeeperArg`
	log  *slog.Logger
	stop chan struct{} // closed by close or handover: loop returns
	done chan struct{} // closed when loop has returned

	// mu guards the fields below. It is held across writes to the pipe so
	// that the keeper sees adds and dels in the order they were made: a
	// del overtaken by its add would leave a stale process group listed.
	mu      sync.Mutex
	proc    *os.Process // nil while no keeper runs
	started time.Time   // when proc started (or was adopted)
	watch   *exitWatch  // proc's exit
	w       *os.File    // write end of proc's pipe
	targets map[string]keeperMsg
}

// startKeeper starts a keeper running path and the goroutine that
// replaces it when it dies; the caller owns it through close or handover.
func startKeeper(path string, log *slog.Logger) (*keeperClient, error) {
	k := newKeeperClient(path, log)
	k.mu.Lock()
	err := k.spawnLocked()
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go k.loop()
	return k, nil
}

func newKeeperClient(path string, log *slog.Logger) *keeperClient {
	return &keeperClient{
		path: path, log: log.With("component", "keeper"),
		stop: make(chan struct{}), done: make(chan struct{}),
		targets: map[string]keeperMsg{},
	}
}

// spawnLocked starts a keeper, waits for its hello and tells it the
// current targets. The hello shows that path is a tandem that knows the
// keeper's mode, not some program that would exit or do something else.
// It holds k.mu up to keeperHelloTimeout: adds wait meanwhile, which keeps
// them in order.
func (k *keeperClient) spawnLocked() error {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("start keeper: %w", err)
	}
	defer devNull.Close()
	helloR, helloW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start keeper: %w", err)
	}
	defer helloR.Close()
	r, w, err := os.Pipe() // close-on-exec: no other child inherits an end
	if err != nil {
		_ = helloW.Close()
		return fmt.Errorf("start keeper: %w", err)
	}
	// A session of its own: signals for tandem's process group or
	// terminal do not reach it. No parent-death signal: it must outlive
	// tandem. Descriptors as KeeperMain expects them.
	proc, err := os.StartProcess(k.path, []string{k.path, KeeperArg}, &os.ProcAttr{
		Dir:   "/",
		Files: []*os.File{devNull, helloW, os.Stderr, r},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	_, _ = helloW.Close(), r.Close() // the keeper has its copies
	if err == nil {
		err = readHello(helloR)
		if err != nil {
			_ = proc.Kill()
			_, _ = proc.Wait()
		}
	}
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("start keeper %s: %w", k.path, err)
	}
	k.proc, k.w, k.watch, k.started = proc, w, watchExit(proc.Pid), time.Now()
	k.log.Info("keeper started", "pid", proc.Pid, "targets", len(k.targets))
	for _, id := range slices.Sorted(maps.Keys(k.targets)) {
		k.sendLocked(k.targets[id])
	}
	return nil
}

// readHello reads the keeper's first line within keeperHelloTimeout.
func readHello(r *os.File) error {
	_ = r.SetReadDeadline(time.Now().Add(keeperHelloTimeout))
	line, err := bufio.NewReader(r).ReadString('\n')
	if strings.TrimSpace(line) == keeperHello {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: got %q", ErrNotKeeper, line)
	}
	return fmt.Errorf("%w: %w", ErrNotKeeper, err)
}

// add tells the keeper to kill m's process group and cgroups if tandem
// dies; an add with a known ID replaces the target.
func (k *keeperClient) add(m keeperMsg) {
	if k == nil {
		return
	}
	m.Op = "add"
	k.mu.Lock()
	defer k.mu.Unlock()
	k.targets[m.ID] = m
	k.sendLocked(m)
}

// del tells the keeper that target id is gone.
func (k *keeperClient) del(id string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.targets[id]; !ok {
		return
	}
	delete(k.targets, id)
	k.sendLocked(keeperMsg{Op: "del", ID: id})
}

// sendLocked writes m to the keeper. A keeper that cannot be written to
// is killed; loop starts a new one and tells it every target again.
func (k *keeperClient) sendLocked(m keeperMsg) {
	if k.w == nil {
		return // loop is starting a new keeper; it will be told
	}
	b, err := json.Marshal(m)
	if err != nil {
		k.log.Error("encode keeper message", "err", err)
		return
	}
	_ = k.w.SetWriteDeadline(time.Now().Add(keeperWriteTimeout))
	if _, err := k.w.Write(append(b, '\n')); err != nil {
		k.log.Error("tell keeper; replacing it", "pid", k.proc.Pid, "err", err)
		_ = k.proc.Kill()
		_ = k.w.Close()
		k.w = nil
	}
}

// loop waits for the keeper to die and starts a new one, until close or
// handover: at once if the keeper had run for keeperStable, after a
// back-off otherwise or if it could not be started.
func (k *keeperClient) loop() {
	defer close(k.done)
	retry := time.Second
	for {
		k.mu.Lock()
		watch := k.watch
		k.mu.Unlock()
		wait := retry // the last start failed
		if watch != nil {
			select {
			case <-k.stop:
				return
			case <-watch.exited:
			}
			k.mu.Lock()
			ran := time.Since(k.started)
			state := k.reapLocked()
			k.mu.Unlock()
			k.log.Error("keeper exited; starting a new one", "status", state, "ran", ran.Round(time.Millisecond))
			if wait = 0; ran < keeperStable {
				wait = retry
			} else {
				retry = time.Second
			}
		}
		if wait > 0 {
			retry = min(2*retry, keeperRetryMax)
			if !k.sleep(wait) {
				return
			}
		}
		k.mu.Lock()
		err := k.spawnLocked()
		k.mu.Unlock()
		if err != nil {
			k.log.Error("start keeper", "err", err)
		}
	}
}

// sleep waits d; it returns false if close or handover asks first.
func (k *keeperClient) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-k.stop:
		return false
	}
}

// reapLocked waits for the exited keeper and forgets it.
func (k *keeperClient) reapLocked() string {
	k.watch.stop()
	state, err := k.proc.Wait()
	if k.w != nil {
		_ = k.w.Close()
	}
	k.proc, k.watch, k.w = nil, nil, nil
	if err != nil {
		return err.Error()
	}
	return state.String()
}

// close ends the keeper after a Supervisor's Run has stopped every
// instance: the pipe is closed with nothing left to kill (any target left
// is killed: it would outlive tandem otherwise), and the keeper exits.
func (k *keeperClient) close() error {
	if k == nil {
		return nil
	}
	close(k.stop)
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc == nil {
		return nil
	}
	if len(k.targets) > 0 {
		k.log.Error("targets left at close; the keeper kills them", "targets", len(k.targets))
	}
	_ = k.w.Close()
	k.w = nil
	t := time.NewTimer(keeperExitTimeout)
	defer t.Stop()
	var err error
	select {
	case <-k.watch.exited:
	case <-t.C:
		err = fmt.Errorf("close keeper %d: did not exit within %v; killed", k.proc.Pid, keeperExitTimeout)
		_ = k.proc.Kill()
	}
	k.reapLocked()
	return err
}

// KeeperHandover is the keeper's part of a Handover.
type KeeperHandover struct {
	PID int `json:"pid"`
	// FD is the write end of the keeper's pipe, inherited across exec.
	FD      int         `json:"fd"`
	Targets []keeperMsg `json:"targets"`
}

// handover stops replacing the keeper, calls detach (which may still add
// and del: the instances let go meanwhile), then stops watching the keeper
// without ending it and returns what the next Supervisor needs to take it
// over: FD is a duplicate of the pipe's write end, still close-on-exec. A
// keeper that is not running (being replaced) is handed over as PID 0: the
// next Supervisor starts one. If the pipe cannot be duplicated, detach is
// not called, nothing changed and the error is returned.
func (k *keeperClient) handover(detach func()) (KeeperHandover, error) {
	if k == nil {
		detach()
		return KeeperHandover{}, nil
	}
	close(k.stop)
	<-k.done // no keeper is replaced from now on
	k.mu.Lock()
	fd, pid := -1, 0
	if k.w != nil {
		var err error
		if fd, err = dupFile(k.w); err != nil {
			k.stop, k.done = make(chan struct{}), make(chan struct{})
			go k.loop()
			k.mu.Unlock()
			return KeeperHandover{}, fmt.Errorf("hand keeper over: %w", err)
		}
		pid = k.proc.Pid
	}
	k.mu.Unlock()

	detach()

	k.mu.Lock()
	defer k.mu.Unlock()
	h := KeeperHandover{}
	for _, id := range slices.Sorted(maps.Keys(k.targets)) {
		h.Targets = append(h.Targets, k.targets[id])
	}
	if k.proc != nil && (k.w == nil || k.proc.Pid != pid) {
		k.reapLocked() // killed after a failed write
	}
	if k.proc == nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return h, nil
	}
	k.watch.stop()
	_ = k.w.Close() // the duplicate keeps the pipe open
	h.PID, h.FD = pid, fd
	k.proc, k.w, k.watch = nil, nil, nil
	return h, nil
}

// adoptKeeper takes over the keeper described by h, made by a Supervisor
// of this process before an exec (or of this very program), and the
// goroutine that replaces it when it dies.
func adoptKeeper(path string, h KeeperHandover, log *slog.Logger) (*keeperClient, error) {
	k := newKeeperClient(path, log)
	for _, t := range h.Targets {
		k.targets[t.ID] = t
	}
	k.mu.Lock()
	err := k.adoptLocked(h)
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go k.loop()
	return k, nil
}

func (k *keeperClient) adoptLocked(h KeeperHandover) error {
	if h.PID == 0 {
		return k.spawnLocked()
	}
	w, err := adoptFile(h.FD, "keeper")
	if err != nil {
		return fmt.Errorf("adopt keeper %d: %w", h.PID, err)
	}
	proc, err := os.FindProcess(h.PID)
	if err != nil {
		return fmt.Errorf("adopt keeper %d: %w", h.PID, err)
	}
	k.proc, k.w, k.watch, k.started = proc, w, watchExit(h.PID), time.Now()
	k.log.Info("keeper adopted", "pid", h.PID, "targets", len(k.targets))
	return nil
}

// dupFile returns a duplicate of f's descriptor, close-on-exec, owned by
// no *os.File: a handover must not have it closed by f's finalizer.
func dupFile(f *os.File) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := sc.Control(func(raw uintptr) { fd, err = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 3) })
	if err = errors.Join(err, cerr); err != nil {
		return -1, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return fd, nil
}

// adoptFile makes an *os.File of a descriptor inherited across exec: it
// is made close-on-exec again, so that no later child inherits it, and
// non-blocking, so that its deadlines work.
func adoptFile(fd int, name string) (*os.File, error) {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
