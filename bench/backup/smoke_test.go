package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// TestMain lets the test binary play tandem's WAL client and archiver, as
// the program does: run copies the running executable for them.
func TestMain(m *testing.M) {
	if code, ok := playTandem(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestSmoke runs the benchmark the way a user does, at a tiny scale, so
// the harness cannot rot: a base backup and a restore with tandem into a
// local directory and into versitygw, pgBackRest's into a local
// repository when it is installed, and an RPO trial with tandem's
// archiver. It checks every figure is there, both reports are written
// and nothing is left behind. It needs root and PostgreSQL (the README's
// test command installs it); 25-35 s here.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL servers and versitygw: skipped in -short mode")
	}
	if raceDetector {
		t.Skip("the benchmark's plumbing, checked without -race (go test ./bench/...)")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs PostgreSQL as the postgres user and makes cgroups: needs root")
	}
	if host.PgBinDir() == "" {
		t.Fatal("PostgreSQL is not installed: apt-get install -y postgresql postgresql-contrib")
	}
	if _, err := cgroup2Mount(); err != nil {
		t.Skip(err)
	}
	// The RPO trial is the same code for every archiver: tandem's alone
	// keeps the test short; pgBackRest's archiving is checked by its
	// backup and restore.
	setups := "tandem-local,tandem-s3"
	if _, err := exec.LookPath("pgbackrest"); err == nil {
		setups = "tandem-local,pgbackrest-local,tandem-s3"
	} else {
		t.Log("pgBackRest is not installed (apt-get install -y pgbackrest): tandem alone")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root) // versitygw is a Go tool of the repository's module
	out := t.TempDir()
	// A short TMPDIR: Unix sockets' paths have at most 107 bytes. The
	// postgres user works under it.
	tmp, err := os.MkdirTemp("/tmp", "bbsmoke")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	o, err := parseOptions([]string{"-quick", "-setups", setups, "-rpo-engines", "tandem", "-rpo", "steady@2s", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := run(ctx, o, &strings.Builder{}, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	if testing.Verbose() {
		t.Logf("log:\n%s", log.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR after the run: %v", left)
	}
	checkSmokeReport(t, rep, out, log.String())
}

func checkSmokeReport(t *testing.T, rep *Report, out, log string) {
	t.Helper()
	if len(rep.Ops) != 2*len(rep.Settings.Setups) || len(rep.RPO) != len(rep.Settings.Archivers) {
		t.Fatalf("%d backups and restores, %d RPO trials; want %d and %d\nlog:\n%s", len(rep.Ops), len(rep.RPO),
			2*len(rep.Settings.Setups), len(rep.Settings.Archivers), log)
	}
	for _, op := range rep.Ops {
		if op.Error != "" || op.Cost.Wall <= 0 || op.Cost.ToolCPU <= 0 || op.Cost.ServerCPU <= 0 {
			t.Errorf("%s %s = %+v; want it done, timed, with CPU on both sides", op.Setup, op.Op, op)
		}
		if op.Op == opBackup && (op.StoredBytes <= 0 || op.StoredBytes > rep.Settings.DatabaseBytes) {
			t.Errorf("%s backup stored %d bytes of %d; want some, compressed", op.Setup, op.StoredBytes, rep.Settings.DatabaseBytes)
		}
	}
	for _, tr := range rep.RPO {
		// 2 s of archive_timeout, the load 5-7 s: a second or two of
		// commits lost at most, plus the upload, on a loaded machine.
		if tr.Error != "" || tr.Acked < 100 || tr.Lost >= tr.Acked || tr.RPO < 0 || tr.RPO > 15 || tr.Archived == 0 {
			t.Errorf("RPO trial %+v; want done, ≥ 100 commits acknowledged, some restored, RPO within 15 s, segments archived", tr)
		}
	}
	withPgBackRest := slices.ContainsFunc(rep.Settings.Setups, func(s setup) bool { return s.System == systemPgBackRest })
	if withPgBackRest && len(rep.Ratios) == 0 {
		t.Errorf("pgBackRest measured, and no ratio")
	}
	b, err := os.ReadFile(filepath.Join(out, "backup.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("backup.json: %v", err)
	}
	if len(back.Ops) != len(rep.Ops) || back.Machine.Nproc == 0 || back.Machine.Versions["postgresql"] == "" {
		t.Errorf("backup.json: %d ops, machine %+v; want %d and the machine with PostgreSQL's version", len(back.Ops), back.Machine, len(rep.Ops))
	}
	md, err := os.ReadFile(filepath.Join(out, "backup.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| base backup: MB/s of database | ", "| steady@2s: RPO s | "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("backup.md lacks %q:\n%s", want, md)
		}
	}
}
