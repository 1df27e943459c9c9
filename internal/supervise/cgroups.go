package supervise

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// autoParent is where, below a hierarchy's root (v2) or below tandem's own
// cgroup (v1), Supervisors put their run directories when
// Options.CgroupParent is "".
const autoParent = "tandem.slice"

// cgroupConfig says where to find the cgroup and proc file systems.
type cgroupConfig struct {
	fs     string // where cgroup file systems are mounted: /sys/fs/cgroup
	proc   string // procfs: /proc
	parent string // Options.CgroupParent; "" = auto
}

// cgroups is the cgroup layout of one Supervisor run: a run directory in
// each hierarchy it uses, named run-<pid>-<process start time>-<random>, so
// that a later run can tell whether the tandem that made it is still alive.
// Each instance gets a directory in the run directories (instanceCgroup).
type cgroups struct {
	log      *slog.Logger
	v2Run    string // run directory in the cgroup v2 hierarchy; "" = not used
	v2Memory bool   // instance cgroups in v2Run have the memory controller
	v1Run    string // run directory in the cgroup v1 memory hierarchy; "" = not used
	// v1Home is tandem's own cgroup in the v1 memory hierarchy, where the
	// spawner thread returns after forking into an instance's; "" = not
	// known (the child then joins its v1 cgroup by pid after the fork).
	v1Home string
	// noMemory says why memory limits cannot be enforced; "" when they can.
	noMemory string
	// noCloneInto is set once the kernel refused CLONE_INTO_CGROUP.
	noCloneInto atomic.Bool
}

// openCgroups finds the usable cgroup hierarchies, removes the cgroups of
// previous runs whose tandem is gone (killing their processes) and makes
// this run's directories. It never fails: what it cannot use it leaves out,
// and noMemory says why memory limits cannot be enforced.
func openCgroups(cfg cgroupConfig, log *slog.Logger) *cgroups {
	c := &cgroups{log: log}
	name, err := newRunDirName(cfg.proc)
	if err != nil {
		c.noMemory = fmt.Sprintf("no cgroups: %v", err)
		return c
	}
	var v2Why string
	if root := v2Root(cfg.fs); root == "" {
		v2Why = fmt.Sprintf("no cgroup v2 hierarchy at %s", cfg.fs)
	} else {
		c.v2Run, c.v2Memory, v2Why = c.openV2(root, cfg, name)
	}
	if c.v2Memory {
		return c
	}
	v1Why := ""
	c.v1Run, c.v1Home, v1Why = c.openV1(cfg, name)
	if c.v1Run == "" {
		c.noMemory = fmt.Sprintf("no writable cgroup memory controller (%s; %s)", v2Why, v1Why)
	}
	return c
}

// openV2 makes the run directory in the v2 hierarchy at root, with the
// memory controller where root offers it. why says why memory is missing.
func (c *cgroups) openV2(root string, cfg cgroupConfig, name string) (run string, memory bool, why string) {
	parent := filepath.Join(root, cmp.Or(cfg.parent, autoParent))
	c.removeStale(parent, cfg.proc)
	run = filepath.Join(parent, name)
	if err := os.MkdirAll(run, 0o755); err != nil {
		return "", false, fmt.Sprintf("cgroup v2 %s not writable: %v", parent, errors.Unwrap(err))
	}
	if !hasController(root, "memory") {
		return run, false, fmt.Sprintf("cgroup v2 %s lacks the memory controller", root)
	}
	// Each level from the root down to the run directory must hand the
	// controller to its children for instance cgroups to get memory.max.
	rel, _ := filepath.Rel(root, run)
	dir := root
	for _, part := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		dir = filepath.Join(dir, part)
		if hasSubtreeController(dir, "memory") {
			continue // already delegated; writing might not even be allowed
		}
		if err := writeCgroupFile(dir, "cgroup.subtree_control", "+memory"); err != nil {
			return run, false, fmt.Sprintf("cgroup v2 %s: enable memory controller: %v", dir, err)
		}
	}
	return run, true, ""
}

// openV1 makes the run directory in the v1 memory hierarchy and finds
// tandem's own cgroup there. why says why there is no run directory.
func (c *cgroups) openV1(cfg cgroupConfig, name string) (run, home, why string) {
	root := filepath.Join(cfg.fs, "memory")
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		return "", "", fmt.Sprintf("no cgroup v1 memory hierarchy at %s", root)
	}
	// /proc shows the path from the hierarchy's root, which in a container
	// without a cgroup namespace is not where the hierarchy is mounted.
	if own, err := ownV1Cgroup(cfg.proc, "memory"); err == nil {
		if _, err := os.Stat(filepath.Join(root, own, "tasks")); err == nil {
			home = filepath.Join(root, own)
		}
	}
	parent := filepath.Join(root, cfg.parent)
	if cfg.parent == "" {
		// v1 allows processes next to child cgroups, so nest below our
		// own cgroup: the limits tandem runs under still apply.
		parent = filepath.Join(cmp.Or(home, root), autoParent)
	}
	c.removeStale(parent, cfg.proc)
	run = filepath.Join(parent, name)
	if err := os.MkdirAll(run, 0o755); err != nil {
		return "", "", fmt.Sprintf("v1 %s not writable: %v", parent, errors.Unwrap(err))
	}
	return run, home, ""
}

// removeStale empties and removes the run directories in parent whose
// tandem process no longer exists.
func (c *cgroups) removeStale(parent, proc string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return // no parent yet: nothing left behind
	}
	for _, e := range entries {
		pid, start, ok := parseRunDirName(e.Name())
		if !e.IsDir() || !ok || processStartTime(proc, pid) == start {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		killed, err := removeCgroupTree(dir)
		if err != nil {
			c.log.Error("remove cgroup of a previous run", "path", dir, "killed", killed, "err", err)
			continue
		}
		c.log.Warn("removed cgroup of a previous run", "path", dir, "killed", killed)
	}
}

// newInstance makes the cgroup of one instance, named dirName, and sets its
// memory limit (0 = none). reason says why the limit is not enforced; it is
// "" when it is or when there is no limit. ic is nil when the instance gets
// no cgroup at all.
func (c *cgroups) newInstance(dirName string, limit int64) (ic *instanceCgroup, reason string) {
	ic = &instanceCgroup{cg: c, name: dirName}
	reason = c.noMemory
	if c.v2Run != "" {
		dir := filepath.Join(c.v2Run, dirName)
		if err := os.Mkdir(dir, 0o755); err != nil {
			c.log.Warn("cgroup not used", "path", dir, "err", err)
		} else {
			ic.v2Dir = dir
			if f, err := os.Open(dir); err == nil && !c.noCloneInto.Load() {
				ic.v2FD = f
			} else if err == nil {
				_ = f.Close()
			}
			if c.v2Memory {
				ic.memDir, ic.memV1 = dir, false
				reason = setMemoryLimit(dir, limit, false)
			}
		}
	}
	if c.v1Run != "" {
		dir := filepath.Join(c.v1Run, dirName)
		if err := os.Mkdir(dir, 0o755); err != nil {
			reason = fmt.Sprintf("cgroup v1 %s: %v", dir, errors.Unwrap(err))
		} else {
			ic.v1Dir = dir
			ic.memDir, ic.memV1 = dir, true
			reason = setMemoryLimit(dir, limit, true)
		}
	}
	if limit == 0 {
		reason = ""
	}
	if ic.v2Dir == "" && ic.v1Dir == "" {
		return nil, reason
	}
	return ic, reason
}

// CgroupsHandover is a run's cgroup layout in a Handover.
type CgroupsHandover struct {
	V2Run       string `json:"v2_run,omitempty"`
	V2Memory    bool   `json:"v2_memory,omitempty"`
	V1Run       string `json:"v1_run,omitempty"`
	V1Home      string `json:"v1_home,omitempty"`
	NoMemory    string `json:"no_memory,omitempty"`
	NoCloneInto bool   `json:"no_clone_into,omitempty"`
}

func (c *cgroups) handover() CgroupsHandover {
	return CgroupsHandover{
		V2Run: c.v2Run, V2Memory: c.v2Memory, V1Run: c.v1Run, V1Home: c.v1Home,
		NoMemory: c.noMemory, NoCloneInto: c.noCloneInto.Load(),
	}
}

// adoptCgroups takes over the run directories of h. Their names hold this
// process's pid and start time, which an exec keeps, so they are still
// this process's: no other tandem removes them as stale.
func adoptCgroups(h CgroupsHandover, log *slog.Logger) *cgroups {
	c := &cgroups{log: log, v2Run: h.V2Run, v2Memory: h.V2Memory, v1Run: h.V1Run, v1Home: h.V1Home, noMemory: h.NoMemory}
	c.noCloneInto.Store(h.NoCloneInto)
	return c
}

// close removes the run directories; instances have removed theirs.
func (c *cgroups) close() error {
	var errs []error
	for _, dir := range []string{c.v2Run, c.v1Run} {
		if dir == "" {
			continue
		}
		if _, err := removeCgroupTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newRunDirName returns run-<pid>-<start time>-<random> for this process.
func newRunDirName(proc string) (string, error) {
	pid := os.Getpid()
	start := processStartTime(proc, pid)
	if start == 0 {
		return "", fmt.Errorf("read start time of process %d from %s", pid, proc)
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return fmt.Sprintf("run-%d-%d-%s", pid, start, hex.EncodeToString(b[:])), nil
}

// parseRunDirName parses a name made by newRunDirName.
func parseRunDirName(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "run-")
	parts := strings.Split(rest, "-")
	if !ok || len(parts) != 3 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(parts[0])
	start, err2 := strconv.ParseUint(parts[1], 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

// processStartTime returns the start time of process pid in clock ticks
// since boot (field 22 of /proc/<pid>/stat), or 0 if there is no such
// process. With the pid it identifies a process even across pid reuse.
func processStartTime(proc string, pid int) uint64 {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	return parseStatStartTime(b)
}

func parseStatStartTime(stat []byte) uint64 {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(stat[i+1:])) // from field 3 on
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

// ownV1Cgroup returns this process's cgroup in the v1 hierarchy that has
// controller, from /proc/self/cgroup.
func ownV1Cgroup(proc, controller string) (string, error) {
	b, err := os.ReadFile(filepath.Join(proc, "self", "cgroup"))
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
			return parts[2], nil
		}
	}
	return "", fmt.Errorf("no cgroup v1 %s hierarchy in %s/self/cgroup", controller, proc)
}

// v2Root returns the mount point of the cgroup v2 hierarchy: fsRoot itself
// on a unified system, fsRoot/unified on a hybrid one, "" if there is none.
func v2Root(fsRoot string) string {
	for _, dir := range []string{fsRoot, filepath.Join(fsRoot, "unified")} {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
			return dir
		}
	}
	return ""
}

// hasController reports whether the v2 cgroup v2dir can use controller name.
func hasController(v2dir, name string) bool {
	return fileHasField(filepath.Join(v2dir, "cgroup.controllers"), name)
}

// hasSubtreeController reports whether the v2 cgroup v2dir hands controller
// name to its children.
func hasSubtreeController(v2dir, name string) bool {
	return fileHasField(filepath.Join(v2dir, "cgroup.subtree_control"), name)
}

func fileHasField(path, field string) bool {
	b, err := os.ReadFile(path)
	return err == nil && slices.Contains(strings.Fields(string(b)), field)
}
