package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 125 0 0 20 0 1 0 99 1000 10", procStat{ppid: 1, ticks: 375}, false},
		{"7 (a (weird) name) R 6 7 7 0 -1 0 0 0 0 0 3 4 0 0", procStat{ppid: 6, ticks: 7}, false},
		{"7 (short) R 6", procStat{}, true},
		{"no parenthesis", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 125 0 0")
	f.Fuzz(func(t *testing.T, s string) {
		parseStat([]byte(s)) //nolint:errcheck // must not panic
	})
}

// TestTreeSkipsExe starts a child and checks that a Tree rooted at the test
// sees it, and no longer sees it when its executable is skipped.
func TestTreeSkipsExe(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	procs := &Procs{}
	defer procs.StopAll(time.Second)
	p, err := procs.Start(ProcSpec{Name: "sleep", Argv: []string{sleep, "30"}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	procs2, err := readProcs()
	if err != nil {
		t.Fatalf("readProcs: %v", err)
	}
	me := os.Getpid()
	if got := (Tree{root: me}).members(procs2); !slices.Contains(got, p.Pid()) || got[0] != me {
		t.Errorf("members = %v; want %d first and child %d", got, me, p.Pid())
	}
	exe, err := os.Readlink("/proc/" + itoa(p.Pid()) + "/exe")
	if err != nil {
		t.Fatalf("readlink: %v", err)
	}
	if got := (Tree{root: me, skipExe: exe}).members(procs2); slices.Contains(got, p.Pid()) {
		t.Errorf("members skipping %s = %v; want no %d", exe, got, p.Pid())
	}
	snap, err := Tree{root: me}.Snapshot()
	if err != nil || snap.RSS() <= 0 {
		t.Errorf("Snapshot() = RSS %d, %v; want > 0", snap.RSS(), err)
	}
	procs.Stop(p, time.Second)
	if got := descendants(me); slices.Contains(got, p.Pid()) {
		t.Errorf("after Stop, descendants = %v; want no %d", got, p.Pid())
	}
}
