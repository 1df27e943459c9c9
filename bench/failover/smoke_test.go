package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// TestMain lets the test binary be tandem's app, as the program is.
func TestMain(m *testing.M) {
	if os.Getenv(appEnv) == "1" {
		os.Exit(serveApp())
	}
	os.Exit(m.Run())
}

// TestSmokeTandemFailover runs one tandem failover trial the way the
// benchmark does, so the harness cannot rot: it builds tandem, starts
// three nodes with the database on two, kills the primary's node under
// the write load, restarts it, and checks the figures and both reports.
// It needs PostgreSQL (the README's test command installs it), not
// Patroni.
func TestSmokeTandemFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three tandem nodes and PostgreSQL: skipped in -short mode")
	}
	if raceDetector {
		t.Skip("the benchmark's plumbing, checked without -race (go test ./bench/...)")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs PostgreSQL as the postgres user: needs root")
	}
	if host.PgBinDir() == "" {
		t.Fatal("PostgreSQL is not installed: apt-get install -y postgresql")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root) // run builds ./cmd/tandem from the working directory
	out := t.TempDir()
	o, err := parseOptions([]string{"-rounds", "1", "-setups", "tandem", "-scenarios", "failover", "-out", out})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	o.setups[0].phase = 0 // no random delay before the kill
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := run(ctx, o, &strings.Builder{}, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	if left := descendantsOf(readParents(), []int{os.Getpid()}); len(left) > 1 {
		t.Errorf("processes left after the run: %v", left[1:])
	}
	if len(rep.Trials) != 1 {
		t.Fatalf("trials = %+v; want 1", rep.Trials)
	}
	tr := rep.Trials[0]
	if !tr.OK() {
		t.Fatalf("trial failed: %s\n%s\nlog:\n%s", tr.Error, strings.Join(tr.Errors, "\n"), log.String())
	}
	if tr.Downtime <= 0 || tr.Downtime > 30 || tr.RejoinStreaming <= 0 || tr.RejoinSync < tr.RejoinStreaming {
		t.Errorf("trial = %+v; want a downtime in (0, 30] s and the rejoin timed", tr)
	}
	if tr.Acked < 100 || tr.Lost != 0 || tr.SplitAcks != 0 || tr.EtcdLeaderKilled == nil {
		t.Errorf("trial: %d acked, %d lost, %d by the old primary after the new, etcd leader killed %v; want ≥ 100, 0, 0, known",
			tr.Acked, tr.Lost, tr.SplitAcks, tr.EtcdLeaderKilled)
	}
	b, err := os.ReadFile(filepath.Join(out, "failover.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("failover.json: %v", err)
	}
	if len(back.Trials) != 1 || back.Machine.Nproc == 0 || back.Machine.Versions["tandem"] == "" {
		t.Errorf("failover.json: %d trials, machine %+v; want 1 and the machine with tandem's version", len(back.Trials), back.Machine)
	}
	md, err := os.ReadFile(filepath.Join(out, "failover.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| tandem | 1 | failover | node-a → node-b |") {
		t.Errorf("failover.md lacks the trial:\n%s", md)
	}
}
