package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the whole benchmark against tandem alone, briefly, so the
// harness cannot rot: it builds tandem and the origin, starts tandem with
// a stack file, loads it (wrk when installed, else the built-in loader),
// measures it and writes both reports.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke run of the benchmark: skipped in -short mode")
	}
	out := t.TempDir()
	o, err := parseOptions([]string{"-smoke", "-out", out})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := run(ctx, o, &strings.Builder{}, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	if left := descendants(os.Getpid()); len(left) > 0 {
		t.Errorf("child processes left after run: %v", left)
	}

	for _, name := range []string{"pass-1k", "conns-1000"} {
		r := findResult(rep.Results, name, "tandem")
		if r == nil || r.Status != StatusOK {
			t.Fatalf("result %s/tandem = %+v; want status ok\nlog:\n%s", name, r, log.String())
		}
		s := r.Samples[0]
		if s.RPS <= 0 || s.P99 <= 0 || s.CPUPerReq <= 0 || s.IdleRSS <= 0 || s.PeakRSS <= 0 {
			t.Errorf("sample %s/tandem = %+v; want positive req/s, p99, CPU/req and RSS", name, s)
		}
		if s.Errors > 0 {
			t.Errorf("sample %s/tandem: %d errors; want 0", name, s.Errors)
		}
		if s.OriginShare < 0.9 {
			t.Errorf("sample %s/tandem origin share = %.2f; want ~1 for pass-through", name, s.OriginShare)
		}
	}
	if r := findResult(rep.Results, "conns-1000", "tandem"); r.Samples[0].MemPerConn == 0 {
		t.Errorf("conns-1000/tandem: memory per idle connection not measured")
	}
	for _, name := range []string{"hit-1k", "hit-100k", "mix-10"} {
		r := findResult(rep.Results, name, "tandem")
		switch {
		case r == nil:
			t.Errorf("result %s/tandem missing", name)
		case r.Status == StatusNA && strings.Contains(r.Reason, ErrCacheNotWired.Error()):
			t.Logf("%s/tandem: n/a (%s)", name, r.Reason)
		case r.Status != StatusOK:
			t.Errorf("result %s/tandem = %s (%s); want ok or n/a (cache not wired)", name, r.Status, r.Reason)
		case name != "mix-10" && r.Samples[0].OriginShare > 0.01:
			t.Errorf("%s/tandem origin share = %.3f; want ~0 for cache hits", name, r.Samples[0].OriginShare)
		}
	}
	if len(rep.Targets) != 7 {
		t.Errorf("targets = %d; want 7", len(rep.Targets))
	}

	b, err := os.ReadFile(filepath.Join(out, "latest.json"))
	if err != nil {
		t.Fatalf("read latest.json: %v", err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("latest.json: %v", err)
	}
	if len(back.Results) != len(rep.Results) || back.Machine.Nproc == 0 {
		t.Errorf("latest.json: %d results, nproc %d; want %d results and the machine", len(back.Results), back.Machine.Nproc, len(rep.Results))
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatalf("read latest.md: %v", err)
	}
	for _, want := range []string{"| pass-1k | tandem |", "idle RSS below 60 MiB", "Smoke run"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q:\n%s", want, md)
		}
	}
}

func findResult(results []*Result, scenario, peer string) *Result {
	for _, r := range results {
		if r.Scenario == scenario && r.Peer == peer {
			return r
		}
	}
	return nil
}
