// Package handover is what one tandem binary hands the next when a node is
// upgraded in place, as nginx upgrades its binary: a state file, and
// descriptors kept open across the execve, which keeps the process and so
// the instances, its children. It also checks a binary before an upgrade
// hands the node to it (CheckBinary). The node (internal/node) decides
// when to hand over and what: the edge's drain, the supervisor's
// instances, the listeners.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/atomicfile"
	"github.com/tandem-run/tandem/internal/supervise"
)

// Format is the version of the handover state this binary writes
// and reads. `tandem version --json` reports it, and an upgrade refuses a
// binary that speaks another.
const Format = 1

// Env names the environment variable that tells a tandem process
// it takes a node over: the path of the handover state file.
const Env = "TANDEM_HANDOVER"

// stateFile is where, under the data directory, the state is written.
const stateFile = "handover.json"

// The names of the listeners handed over, besides the edge's (see
// EdgeListener).
const (
	ListenerAdmin = "admin"
	ListenerNode  = "node"
)

// EdgeListener is the name under which the edge's listener name (an
// edge.Listener* name) is handed over.
func EdgeListener(name string) string { return "edge/" + name }

// state is the state file: everything the next binary needs to
// take the node over. It holds the instances' environments: the file is
// private to its owner, and removed once the node has been taken over.
type state struct {
	Format  int                 `json:"format"`
	Upgrade admin.UpgradeStatus `json:"upgrade"`
	// Args are the command-line arguments the node was started with,
	// given again to the next binary.
	Args []string `json:"args"`
	// Previous is a descriptor of the binary that handed over, open for
	// a fallback (see Handover.FallBack); -1 for none.
	Previous int `json:"previous"`
	// FellBack: the state comes back from a binary that could not take
	// the node over; the one reading it must not fall back again.
	FellBack  bool                     `json:"fell_back,omitempty"`
	Listeners map[string]listenerState `json:"listeners"`
	Processes *supervise.Handover      `json:"processes"`
	Healthy   []string                 `json:"healthy"` // instances their balancer found healthy
}

// listenerState is a listening socket handed over.
type listenerState struct {
	FD   int    `json:"fd"`
	Addr string `json:"addr"` // the stack file's address it was bound for
}

// Handover is a node's state in the hands of the next binary of an upgrade
// (or of this process again, when the exec failed). The node's
// Options.Handover gives it to the node that takes over.
type Handover struct {
	st   state
	path string // the state file; "" until written
	// files are the descriptors the state names, held open: listeners by
	// name, and the previous binary.
	listeners map[string]*os.File
	previous  *os.File
}

// New starts the handover of the upgrade up, by a node whose process was
// started with args: it opens the running binary, for the next one to
// fall back to (FallBack). Add the listeners and SetInstances before
// Exec; Close what will not be handed over.
func New(up admin.UpgradeStatus, args []string) (*Handover, error) {
	h := &Handover{listeners: map[string]*os.File{}}
	h.st = state{Format: Format, Upgrade: up, Args: args, Previous: -1, Listeners: map[string]listenerState{}}
	var err error
	if h.previous, err = os.Open("/proc/self/exe"); err != nil {
		return nil, fmt.Errorf("open the running binary: %w", err)
	}
	return h, nil
}

// Add holds listener file f, bound for addr, for the handover.
func (h *Handover) Add(name string, f *os.File, addr string) {
	h.listeners[name] = f
	h.st.Listeners[name] = listenerState{FD: -1, Addr: addr}
}

// SetInstances records the supervisor's instances and those of them
// their balancer found healthy.
func (h *Handover) SetInstances(procs *supervise.Handover, healthy []string) {
	h.st.Processes, h.st.Healthy = procs, healthy
}

// Close closes the descriptors of a handover that will not happen.
func (h *Handover) Close() {
	for _, f := range h.listeners {
		f.Close()
	}
	if h.previous != nil {
		h.previous.Close()
	}
}

// Upgrade is the upgrade as the binary that handed over recorded it.
func (h *Handover) Upgrade() admin.UpgradeStatus { return h.st.Upgrade }

// Processes are the instances handed over, for the supervisor to adopt.
func (h *Handover) Processes() *supervise.Handover { return h.st.Processes }

// Open reads the handover state at path, the value of
// Env, which the binary that ran the node before wrote; nil, nil
// when path is "". The descriptors it names must have been inherited.
func Open(path string) (*Handover, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open handover: %w", err)
	}
	h := &Handover{path: path, listeners: map[string]*os.File{}}
	if err := json.Unmarshal(b, &h.st); err != nil {
		return nil, fmt.Errorf("open handover %s: %w", path, err)
	}
	if h.st.Format != Format {
		return nil, fmt.Errorf("open handover %s: format %d; this binary reads format %d", path, h.st.Format, Format)
	}
	for name, l := range h.st.Listeners {
		h.listeners[name] = os.NewFile(uintptr(l.FD), "handed-over listener "+name)
	}
	if h.st.Previous >= 0 {
		h.previous = os.NewFile(uintptr(h.st.Previous), "previous binary")
	}
	return h, nil
}

// Listener returns the listener handed over as name if it was bound for
// addr, nil if none was or the stack file now names another address
// (then it is bound afresh).
func (h *Handover) Listener(name, addr string) (net.Listener, error) {
	if h == nil || h.listeners[name] == nil || h.st.Listeners[name].Addr != addr {
		return nil, nil
	}
	ln, err := net.FileListener(h.listeners[name])
	if err != nil {
		return nil, fmt.Errorf("take listener %s over: %w", name, err)
	}
	return ln, nil
}

// Healthy returns the instances that were healthy, as a set.
func (h *Handover) Healthy() map[string]bool {
	out := make(map[string]bool, len(h.st.Healthy))
	for _, name := range h.st.Healthy {
		out[name] = true
	}
	return out
}

// Finished is the record of the upgrade as the node that took over
// tells it: failed if this node is not the new binary, else succeeded now.
func (h *Handover) Finished() admin.UpgradeStatus {
	u := h.st.Upgrade
	if u.Result == admin.UpgradeRunning {
		u.Result = admin.UpgradeSucceeded
	}
	u.Finished = time.Now()
	return u
}

// Failed notes that the upgrade failed: the node runs the binary that
// handed over.
func (h *Handover) Failed(err error) {
	h.st.Upgrade.Result, h.st.Upgrade.Error = admin.UpgradeFailed, err.Error()
}

// Release closes what the node that took over no longer needs: the
// descriptors the listeners were taken from, the previous binary, and the
// state file, which holds the instances' environments. The supervisor's
// descriptors are its own by then.
func (h *Handover) Release(log *slog.Logger) {
	for _, f := range h.listeners {
		f.Close()
	}
	if h.previous != nil {
		h.previous.Close()
	}
	if h.path != "" {
		if err := os.Remove(h.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Error("remove the handover state file", "file", h.path, "err", err)
		}
	}
}

// Exec writes the state to dir and replaces this process's program with
// binary, which takes the node over. It returns only if that failed; the
// state is then still good for this process to take the node over again.
func (h *Handover) Exec(dir string, environ []string) error {
	for name, f := range h.listeners { // the supervisor's are kept open already
		fd, err := keepOnExec(f)
		if err != nil {
			return fmt.Errorf("hand listener %s over: %w", name, err)
		}
		l := h.st.Listeners[name]
		l.FD = fd
		h.st.Listeners[name] = l
	}
	h.st.Previous = -1
	if h.previous != nil {
		fd, err := keepOnExec(h.previous)
		if err != nil {
			return fmt.Errorf("keep the previous binary open: %w", err)
		}
		h.st.Previous = fd
	}
	if err := h.write(filepath.Join(dir, stateFile)); err != nil {
		return err
	}
	binary := h.st.Upgrade.Binary
	argv := append([]string{binary}, h.st.Args...)
	err := syscall.Exec(binary, argv, withEnv(environ, h.path))
	return fmt.Errorf("exec %s: %w", binary, err)
}

// write stores the state at path, private to its owner.
func (h *Handover) write(path string) error {
	b, err := json.Marshal(h.st)
	if err != nil {
		return fmt.Errorf("write handover: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("write handover: %w", err)
	}
	h.path = path
	return nil
}

// FallBack is what the new binary of an upgrade does when it cannot take
// the node over (its stack file does not load, a port cannot be taken, the
// cluster does not open): it records why in the state and execs the
// binary that handed over, which takes the node over as it was, instances
// untouched, and reports the upgrade failed. It must be called before
// the node has taken the instances over, and returns only if falling back
// is not possible (the state came from a fallback already, or the exec
// failed), with cause. environ is the process's environment. A nil
// Handover returns cause.
func (h *Handover) FallBack(cause error, environ []string) error {
	if h == nil || h.previous == nil || h.path == "" || h.st.FellBack {
		return cause
	}
	h.st.FellBack = true
	h.Failed(fmt.Errorf("the new binary could not take the node over: %w", cause))
	if err := h.write(h.path); err != nil {
		return errors.Join(cause, fmt.Errorf("fall back: %w", err))
	}
	binary := "/proc/self/fd/" + strconv.Itoa(h.st.Previous)
	err := syscall.Exec(binary, append([]string{binary}, h.st.Args...), withEnv(environ, h.path))
	return errors.Join(cause, fmt.Errorf("fall back to the previous binary: %w", err))
}

// withEnv returns environ with Env set to path.
func withEnv(environ []string, path string) []string {
	env := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool { return strings.HasPrefix(kv, Env+"=") })
	return append(env, Env+"="+path)
}

// keepOnExec clears f's close-on-exec flag, so that its descriptor stays
// open, at the same number, in the program an execve runs, and returns
// the number. It leaves the file's other flags (blocking mode) alone: a
// socket's duplicate shares them with the original still in use.
func keepOnExec(f *os.File) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var errno syscall.Errno
	cerr := sc.Control(func(raw uintptr) {
		fd = int(raw)
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, raw, syscall.F_SETFD, 0)
	})
	if cerr != nil {
		return -1, cerr
	}
	if errno != 0 {
		return -1, fmt.Errorf("clear close-on-exec of %s: %w", f.Name(), errno)
	}
	return fd, nil
}
