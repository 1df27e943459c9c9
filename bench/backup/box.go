package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// box is a cgroup (v2) that holds every process of one simulated machine:
// a PostgreSQL server with whatever archives its WAL (tandem's archiver,
// pgBackRest's archive-push and its asynchronous daemon, which detaches
// from its parent and so could not be found through the process tree).
// Processes start inside it (clone3 with CLONE_INTO_CGROUP), so their
// children are in it too. The box gives the CPU time of all of them,
// including those that exited, and a crash that loses the machine at
// once: freeze every process, then kill them all.
type box struct {
	dir string // the cgroup's directory
}

// boxes is the run's parent cgroup, under which each box is made.
type boxes struct {
	dir string
	n   int
}

// errNoCgroup2 is returned when the machine has no cgroup v2 hierarchy the
// benchmark can write to.
var errNoCgroup2 = errors.New("no writable cgroup v2 hierarchy (a cgroup2 mount in /proc/self/mountinfo)")

// newBoxes makes the run's parent cgroup in the cgroup v2 hierarchy.
func newBoxes(name string) (*boxes, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(mnt, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoCgroup2, err)
	}
	return &boxes{dir: dir}, nil
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on a unified system, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Mount() (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoCgroup2, err)
	}
	if mnt := cgroup2In(b); mnt != "" {
		return mnt, nil
	}
	return "", errNoCgroup2
}

// cgroup2In returns the mount point of the first cgroup2 file system in
// a mountinfo file; "" if none.
func cgroup2In(mountinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mount-point options [optional...] - fstype source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// box makes a new box named after what it holds.
func (bs *boxes) box(name string) (*box, error) {
	bs.n++
	dir := filepath.Join(bs.dir, fmt.Sprintf("%02d-%s", bs.n, name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make box %s: %w", name, err)
	}
	return &box{dir: dir}, nil
}

// close kills what is left in every box and removes them.
func (bs *boxes) close() error {
	entries, _ := os.ReadDir(bs.dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, (&box{dir: filepath.Join(bs.dir, e.Name())}).close())
		}
	}
	if err := os.Remove(bs.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup %s: %w", bs.dir, err))
	}
	return errors.Join(errs...)
}

// start starts cmd inside the box. cmd.SysProcAttr may already hold a
// credential.
func (b *box) start(cmd *exec.Cmd) error {
	f, err := os.Open(b.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
	return cmd.Start()
}

// cpu is the CPU time (user and system) of every process that ran in the
// box so far.
func (b *box) cpu() (time.Duration, error) {
	raw, err := os.ReadFile(filepath.Join(b.dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Duration(us) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat: no usage_usec", b.dir)
}

// crash freezes every process in the box and kills them, the way a
// machine dies: none sees another die and reacts (PostgreSQL's archiver
// finishing a push, pgBackRest's daemon its batch). It returns when the
// box is empty.
func (b *box) crash() error {
	if err := os.WriteFile(filepath.Join(b.dir, "cgroup.freeze"), []byte("1"), 0); err != nil {
		return fmt.Errorf("freeze %s: %w", b.dir, err)
	}
	return b.kill()
}

// kill SIGKILLs every process in the box (frozen ones too) and waits,
// at most 30 s, until none is left.
func (b *box) kill() error {
	if err := os.WriteFile(filepath.Join(b.dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill %s: %w", b.dir, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for b.populated() {
		if time.Now().After(deadline) {
			return fmt.Errorf("kill %s: processes left after 30s", b.dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// populated reports whether a process is left in the box.
func (b *box) populated() bool {
	raw, err := os.ReadFile(filepath.Join(b.dir, "cgroup.events"))
	return err == nil && strings.Contains(string(raw), "populated 1")
}

// close kills what is left and removes the box.
func (b *box) close() error {
	if _, err := os.Stat(b.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	if b.populated() {
		errs = append(errs, b.kill())
	}
	if err := os.Remove(b.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup %s: %w", b.dir, err))
	}
	return errors.Join(errs...)
}
