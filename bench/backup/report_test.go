package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLossOf(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	// Commits 1-5 acknowledged at 100 ms steps; 3 failed (its
	// acknowledgement never came, yet it may have committed).
	acks := []ack{{1, at(100)}, {2, at(200)}, {4, at(400)}, {5, at(500)}}
	tests := []struct {
		recovered int64
		lost      int
		rpo       time.Duration
	}{
		{5, 0, 0},                          // everything acknowledged is there
		{6, 0, 0},                          // and one more, committed as the machine died
		{4, 1, 100 * time.Millisecond},     // 5 lost: from 4's acknowledgement to 5's
		{3, 2, 300 * time.Millisecond},     // 3 was not acknowledged: from 2's
		{1, 3, 400 * time.Millisecond},     // 2, 4, 5 lost
		{0, 4, 500 * time.Millisecond},     // nothing restored: from the start of the load
		{-1, 4, 500 * time.Millisecond},    // nonsense stays nonsense, not a panic
		{1 << 40, 0, 0 * time.Millisecond}, // more than was ever written
	}
	for _, tt := range tests {
		acked, lost, rpo := lossOf(acks, tt.recovered, start)
		if acked != 4 || lost != tt.lost || rpo != tt.rpo {
			t.Errorf("lossOf(acks, %d) = %d, %d, %s; want 4, %d, %s", tt.recovered, acked, lost, rpo, tt.lost, tt.rpo)
		}
	}
	if acked, lost, rpo := lossOf(nil, 0, start); acked != 0 || lost != 0 || rpo != 0 {
		t.Errorf("lossOf(nil) = %d, %d, %s; want 0, 0, 0", acked, lost, rpo)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-setups", "tandem-s3,pgbackrest-s3", "-rpo", "heavy@45s, steady@5s", "-rpo-engines", "tandem"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.setups) != 2 || o.setups[1].Name != "pgbackrest-s3" || o.setups[1].Compress != "zst" {
		t.Errorf("setups = %+v; want tandem-s3, pgbackrest-s3 with zst", o.setups)
	}
	want := []rpoCase{{"heavy", 45 * time.Second}, {"steady", 5 * time.Second}}
	if !slices.Equal(o.rpo, want) {
		t.Errorf("rpo = %v; want %v", o.rpo, want)
	}
	if !o.needs(systemPgBackRest, storeS3) || o.needs(systemPgBackRest, storeLocal) || !o.needs("", storeLocal) {
		t.Errorf("needs: pgBackRest on S3 %v, pgBackRest local %v, anything local %v; want true, false, true",
			o.needs(systemPgBackRest, storeS3), o.needs(systemPgBackRest, storeLocal), o.needs("", storeLocal))
	}
	for _, args := range [][]string{
		{"-setups", "barman"},
		{"-rpo-engines", "wal-g"},
		{"-rpo", "steady"},
		{"-rpo", "bursty@45s"},
		{"-rpo", "steady@1500ms"},
		{"-rpo", "steady@0s"},
		{"-rounds", "0"},
	} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("parseOptions(%q) succeeded; want an error", args)
		}
	}
}

func TestNewestBackup(t *testing.T) {
	// pgbackrest info --output=json, 2.45, trimmed.
	raw := `[{"archive":[{"id":"15-1"}],"backup":[
		{"label":"20261206-070101F","type":"full","info":{"delta":1000,"size":990000000,"repository":{"delta":44000000,"size":44000000}}},
		{"label":"20261206-071500F","type":"full","info":{"delta":1000,"size":991000000,"repository":{"delta":45000000,"size":45000000}}}
	],"name":"bench","status":{"code":0}}]`
	got, err := newestBackup([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if want := (backupInfo{ID: "20261206-071500F", ToolBytes: 991000000, StoredBytes: 45000000}); got != want {
		t.Errorf("newestBackup = %+v; want %+v", got, want)
	}
	for _, bad := range []string{`[{"name":"bench","backup":[]}]`, `[{"name":"other","backup":[{"label":"x"}]}]`, `{`} {
		if _, err := newestBackup([]byte(bad)); err == nil {
			t.Errorf("newestBackup(%s) succeeded; want an error", bad)
		}
	}
}

func TestCgroup2In(t *testing.T) {
	hybrid := "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
		"40 31 0:37 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n"
	if got := cgroup2In([]byte(hybrid)); got != "/sys/fs/cgroup/unified" {
		t.Errorf("cgroup2In(hybrid) = %q; want /sys/fs/cgroup/unified", got)
	}
	if got := cgroup2In([]byte(hybrid[:strings.Index(hybrid, "40 31")])); got != "" {
		t.Errorf("cgroup2In(v1 only) = %q; want none", got)
	}
}

// TestReport checks the summaries, the ratios (tandem over pgBackRest on
// the same store only) and that the markdown shows them.
func TestReport(t *testing.T) {
	rep := &Report{Settings: Settings{DatabaseBytes: 1e9, Rounds: 2, Setups: []setup{setups[0], setups[1], setups[3]},
		Archivers: archivers[:2], RPOCases: []rpoCase{{"steady", 45 * time.Second}}, RPOTrials: 2, Loads: loads}}
	op := func(setup, kind string, wall, cpu float64, stored int64) OpTrial {
		return OpTrial{Setup: setup, Op: kind, Cost: cost{Wall: time.Duration(wall * 1e9), ToolCPU: time.Duration(cpu * 1e9)}, StoredBytes: stored}
	}
	rep.Ops = []OpTrial{
		op("tandem-local", opBackup, 10, 8, 40e6), op("tandem-local", opBackup, 20, 9, 40e6),
		op("pgbackrest-local", opBackup, 30, 20, 50e6), op("pgbackrest-local", opBackup, 50, 22, 50e6),
		op("tandem-local", opRestore, 8, 6, 0), {Setup: "pgbackrest-local", Op: opRestore, Error: "boom"},
		op("tandem-s3", opBackup, 12, 8, 40e6),
	}
	c := rep.Settings.RPOCases[0]
	rep.RPO = []RPOTrial{{Setup: "tandem", Case: c, RPO: 10}, {Setup: "tandem", Case: c, RPO: 30},
		{Setup: "pgbackrest-async", Case: c, RPO: 40}, {Setup: "pgbackrest-async", Case: c, Error: "crashed wrong"}}
	rep.summarize()

	if s := rep.opSummary("tandem-local", opBackup); s.Wall.Median != 15 || s.MBps.Max != 100 || s.StoredMB.Median != 40 || s.CPUPerGB.Median != 8.5 {
		t.Errorf("tandem-local backups = %+v; want median 15 s, best 100 MB/s, 40 MB stored, 8.5 CPU s per GB", s)
	}
	if s := rep.opSummary("pgbackrest-local", opRestore); s.Trials != 1 || s.Failed != 1 || s.Wall.N != 0 {
		t.Errorf("pgbackrest-local restores = %+v; want one, failed, not counted", s)
	}
	var got []string
	for _, r := range rep.Ratios {
		got = append(got, r.Measure+" "+r.Tandem+"/"+r.Versus)
	}
	want := []string{"backup_wall tandem-local/pgbackrest-local", "backup_cpu tandem-local/pgbackrest-local",
		"backup_stored tandem-local/pgbackrest-local", "rpo steady@45s tandem/pgbackrest-async"}
	if !slices.Equal(got, want) {
		t.Errorf("ratios = %q; want %q (none for a failed restore, none across stores)", got, want)
	}
	if r := rep.Ratios[0].Value; r != 15.0/40 {
		t.Errorf("backup wall ratio = %v; want %v", r, 15.0/40)
	}
	md := rep.Markdown()
	for _, line := range []string{
		"| base backup: wall s | 15.0 (10.0–20.0) | 40.0 (30.0–50.0) | 12.0 |",
		"| restores ok / failed | 1 / 0 | 0 / 1 | 0 / 0 |",
		"| base backup: CPU s per GB of database | 8.5 (8.0–9.0) | 21.0 (20.0–22.0) | 8.0 |",
		"| base backup: wall time | 0.38 |",
		"| steady@45s: RPO s | 20.00 (10.00–30.00) | 40.00 |",
		"| RPO, steady@45s | 0.50 |",
		"**pgbackrest-async steady@45s trial 0 failed**: crashed wrong",
	} {
		if !strings.Contains(md, line) {
			t.Errorf("markdown lacks %q:\n%s", line, md)
		}
	}
}
