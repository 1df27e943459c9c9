package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture tandem runs on.
const clockTicks = 100

// Tree is a proxy's process tree: the process the harness started and all
// its descendants (nginx's master and workers, varnishd's manager and
// child), less any process whose executable is skipExe and that process's
// own descendants (tandem's supervised origin).
type Tree struct {
	root    int
	skipExe string // absolute path; "" skips nothing
}

// Snapshot is what a Tree used up to one instant.
type Snapshot struct {
	ticks map[int]uint64 // utime+stime by pid
	rss   int64          // sum of VmRSS, bytes
}

// RSS is the sum of the resident set sizes of the tree's processes, in
// bytes. Pages shared between processes (nginx's workers and master) are
// counted once per process, as VmRSS does.
func (s Snapshot) RSS() int64 { return s.rss }

// CPUSince is the CPU time (user+system) the tree used between prev and s.
// A process that appeared in between counts from its start; one that
// exited in between is lost (its time is not in its parent's utime).
func (s Snapshot) CPUSince(prev Snapshot) time.Duration {
	var ticks uint64
	for pid, t := range s.ticks {
		if p, ok := prev.ticks[pid]; ok && p <= t {
			ticks += t - p
		} else if !ok {
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// Snapshot reads /proc for every process of the tree.
func (t Tree) Snapshot() (Snapshot, error) {
	procs, err := readProcs()
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{ticks: make(map[int]uint64)}
	pageSize := int64(os.Getpagesize())
	for _, pid := range t.members(procs) {
		st := procs[pid]
		s.ticks[pid] = st.ticks
		if rss, err := readRSSPages(pid); err == nil {
			s.rss += rss * pageSize
		}
	}
	if _, ok := s.ticks[t.root]; !ok {
		return Snapshot{}, fmt.Errorf("snapshot process tree %d: root process gone", t.root)
	}
	return s, nil
}

// members lists the root and its descendants, less the skipped subtrees.
func (t Tree) members(procs map[int]procStat) []int {
	children := make(map[int][]int, len(procs))
	for pid, st := range procs {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var out []int
	queue := []int{t.root}
	for len(queue) > 0 && len(out) < len(procs) {
		pid := queue[0]
		queue = queue[1:]
		if _, ok := procs[pid]; !ok || t.skipped(pid) {
			continue
		}
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

func (t Tree) skipped(pid int) bool {
	if t.skipExe == "" {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && exe == t.skipExe
}

// descendants lists every descendant of pid (not pid itself).
func descendants(pid int) []int {
	procs, err := readProcs()
	if err != nil {
		return nil
	}
	m := Tree{root: pid}.members(procs)
	if len(m) > 0 && m[0] == pid {
		m = m[1:]
	}
	return m
}

// procStat is the part of /proc/<pid>/stat the harness uses.
type procStat struct {
	ppid  int
	ticks uint64 // utime + stime
}

// readProcs reads the stat file of every process. Processes that exit
// while it reads are left out.
func readProcs() (map[int]procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	procs := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil {
			procs[pid] = st
		}
	}
	return procs, nil
}

// parseStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse stat: no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("parse stat: %d fields", len(f)+2)
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("parse stat: bad number")
	}
	return procStat{ppid: ppid, ticks: ut + st}, nil
}

// readRSSPages reads the resident set size, in pages, from
// /proc/<pid>/statm (the same figure as VmRSS in /proc/<pid>/status).
func readRSSPages(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, fmt.Errorf("read statm: %w", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("parse statm: %d fields", len(f))
	}
	n, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse statm: %w", err)
	}
	return n, nil
}
