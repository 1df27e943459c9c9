package supervise

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// KeeperArg is the hidden first argument that makes the tandem binary run
// as a keeper. A main that sets Options.KeeperPath must, before anything
// else, run KeeperMain when os.Args[1] is KeeperArg.
const KeeperArg = "__keeper"

// keeperFD is the descriptor on which the keeper reads what to kill: the
// read end of a pipe whose only write end the Supervisor holds.
const keeperFD = 3

// keeperHello is the line a keeper writes on its standard output, a pipe
// to the Supervisor, once it is ready; then it closes it.
const keeperHello = "tandem keeper 1"

// maxKeeperLine bounds a message; a longer line is a bug, not a message.
const maxKeeperLine = 64 << 10

// keeperMsg is one line, in JSON, from a Supervisor to its keeper.
type keeperMsg struct {
	Op string `json:"op"` // "add" or "del"
	ID string `json:"id"` // names a target; an add of a known ID replaces it
	// PGID is a process group to SIGKILL; 0 = none. Used only for
	// processes that have no cgroup.
	PGID int `json:"pgid,omitempty"`
	// Cgroups are the cgroup directories whose every process is SIGKILLed.
	Cgroups []string `json:"cgroups,omitempty"`
}

// KeeperMain runs the keeper and returns its exit code. The keeper is a
// dead man's switch: a Supervisor started with Options.KeeperPath starts
// it, in a session of its own and without a parent-death signal, so that
// it outlives tandem however tandem ends. It says keeperHello on its
// standard output, a pipe the Supervisor reads once to know that a keeper
// runs. Over a pipe on descriptor 3 the Supervisor then tells it each
// process group and cgroup that holds an instance's processes, and that it
// is gone once reaped. When that pipe reaches end of file, because every
// write end is closed, tandem has exited (a normal exit has told it that
// nothing is left) or died; the keeper then SIGKILLs every process in what
// it was told of, and only there, and exits.
func KeeperMain() int {
	// Stop signals meant for tandem (a terminal's ^C, systemd's SIGTERM
	// to the unit) must not end the switch before tandem is gone.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "keeper")
	_, err := fmt.Fprintln(os.Stdout, keeperHello)
	if err = errors.Join(err, os.Stdout.Close()); err != nil {
		log.Error("keeper hello", "err", err)
		return 2
	}
	targets, err := readKeeper(os.NewFile(keeperFD, "keeper"), log)
	if err != nil {
		log.Error("keeper input", "err", err) // acted on as if tandem were gone
	}
	if len(targets) == 0 {
		return 0
	}
	log.Warn("tandem is gone; killing its app processes", "targets", len(targets))
	found, err := killTargets(targets)
	if err != nil {
		log.Error("kill app processes", "in_cgroups", found, "err", err)
		return 1
	}
	log.Warn("killed the app processes tandem left", "in_cgroups", found)
	return 0
}

// readKeeper reads messages until end of file and returns the targets
// that were added and not deleted, in the order they were added. A read
// error ends the input like end of file (the Supervisor is gone either
// way) and is returned with the targets. A line that is not a valid
// message is logged and skipped.
func readKeeper(r io.Reader, log *slog.Logger) ([]keeperMsg, error) {
	set := map[string]keeperMsg{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxKeeperLine)
	for sc.Scan() {
		m, err := parseKeeperMsg(sc.Bytes())
		if err != nil {
			log.Error("keeper message skipped", "err", err)
			continue
		}
		if m.Op == "del" {
			delete(set, m.ID)
			continue
		}
		if _, ok := set[m.ID]; !ok {
			order = append(order, m.ID)
		}
		set[m.ID] = m
	}
	err := sc.Err()
	if err != nil {
		// Keep the pipe drained until tandem is gone; the set read so far
		// is what can be acted on.
		_, _ = io.Copy(io.Discard, r)
	}
	var out []keeperMsg
	for _, id := range order {
		if m, ok := set[id]; ok {
			out = append(out, m)
			delete(set, id) // an ID deleted and added again is listed once
		}
	}
	return out, err
}

// parseKeeperMsg decodes and checks one message. A process group must be
// a real one (kill(-1) would reach every process, kill(-0) the keeper's
// own group), and a cgroup an absolute, clean path.
func parseKeeperMsg(line []byte) (keeperMsg, error) {
	var m keeperMsg
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("keeper message: %w", err)
	}
	switch {
	case m.ID == "":
		return m, errors.New("keeper message: id: must not be empty")
	case m.Op == "del":
		return m, nil
	case m.Op != "add":
		return m, fmt.Errorf("keeper message: op %q: must be add or del", m.Op)
	case m.PGID < 0 || m.PGID == 1:
		return m, fmt.Errorf("keeper message %s: pgid %d: must be a process group > 1", m.ID, m.PGID)
	}
	for _, dir := range m.Cgroups {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" {
			return m, fmt.Errorf("keeper message %s: cgroup %q: must be an absolute clean path", m.ID, dir)
		}
	}
	return m, nil
}

// killTargets SIGKILLs the process group and everything in the cgroups of
// each target, and waits until the cgroups are empty. It refuses a
// directory that is not below another cgroup: a hierarchy's root holds
// every process of the machine. found counts the processes found in
// cgroups.
func killTargets(targets []keeperMsg) (found int, err error) {
	var errs []error
	for _, t := range targets {
		if t.PGID > 1 {
			_ = syscall.Kill(-t.PGID, syscall.SIGKILL) // ESRCH: gone already
		}
		for _, dir := range t.Cgroups {
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "cgroup.procs")); err != nil {
				if _, err := os.Stat(dir); err == nil {
					errs = append(errs, fmt.Errorf("kill cgroup %s: not below another cgroup; refused", dir))
				}
				continue // a missing directory has no process left
			}
			n, err := killCgroup(dir)
			found += n
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return found, errors.Join(errs...)
}
