package main

import (
	"strings"
	"testing"
	"time"
)

func summarized(scenario, peer string, rps float64, cpu, p99 time.Duration, idle int64) *Result {
	r := &Result{Scenario: scenario, Peer: peer, Samples: []Sample{{RPS: rps, CPUPerReq: cpu, P99: p99, IdleRSS: idle}}}
	r.finish()
	return r
}

func TestEvaluateTargets(t *testing.T) {
	us := time.Microsecond
	results := []*Result{
		summarized("hit-1k", "tandem", 50000, 10*us, 0, 0),
		summarized("hit-1k", "varnish", 50000, 12*us, 0, 0),
		summarized("hit-1k", "haproxy", 50000, 6*us, 0, 0), // 10 > 1.5×6: missed
		summarized("pass-1k", "tandem", 20000, 30*us, 3*time.Millisecond, 20<<20),
		summarized("pass-1k", "haproxy", 20000, 15*us, 0, 0), // 30 <= 2×15: met
		summarized("pass-1k", "nginx", 20000, 15*us, 2*time.Millisecond, 0),
		// p99 is compared at the same (paced) load, not at saturation:
		summarized("pass-1k-paced", "tandem", 4000, 35*us, 900*us, 0),
		summarized("pass-1k-paced", "nginx", 4000, 15*us, time.Millisecond, 0),
		{Scenario: "hit-100k", Peer: "tandem", Status: StatusNA, Reason: "cache not wired"},
	}
	want := map[string]TargetState{
		"cache hit 1 KiB: CPU/req below Varnish's":                       TargetMet,
		"cache hit 1 KiB: CPU/req within 1.5× HAProxy cache's":           TargetMissed,
		"pass-through 1 KiB: CPU/req at most 2× HAProxy's":               TargetMet,
		"pass-through 1 KiB: CPU/req below Caddy's":                      TargetNotMeasured,
		"pass-through 1 KiB: p99 no worse than nginx's at the same load": TargetMet,
		"cache hit 100 KiB: req/s at least Varnish's":                    TargetMissed,
		"idle RSS below 60 MiB":                                          TargetMet,
	}
	got := evaluateTargets(results)
	if len(got) != len(want) {
		t.Fatalf("evaluateTargets: %d targets; want %d", len(got), len(want))
	}
	for _, tg := range got {
		if tg.Status != want[tg.Name] {
			t.Errorf("target %q = %s (%s); want %s", tg.Name, tg.Status, tg.Detail, want[tg.Name])
		}
	}
	if d := got[5].Detail; !strings.Contains(d, "cache not wired") {
		t.Errorf("100 KiB target detail = %q; want the reason tandem has no figure", d)
	}
}

// TestTargetsOfScenariosNotRun: a run of some scenarios only (-scenarios)
// does not call the others' targets missed.
func TestTargetsOfScenariosNotRun(t *testing.T) {
	results := []*Result{
		summarized("hit-1k", "tandem", 50000, 10*time.Microsecond, 0, 20<<20),
		summarized("hit-1k", "varnish", 50000, 12*time.Microsecond, 0, 0),
	}
	for _, tg := range evaluateTargets(results) {
		if strings.HasPrefix(tg.Name, "pass-through") && tg.Status != TargetNotMeasured {
			t.Errorf("target %q without a pass-through run = %s (%s); want %s", tg.Name, tg.Status, tg.Detail, TargetNotMeasured)
		}
	}
}

func TestSpread(t *testing.T) {
	tests := []struct {
		in   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{3}, Spread{3, 3, 3}},
		{[]float64{5, 1, 3}, Spread{3, 1, 5}},
		{[]float64{4, 1, 2, 10}, Spread{3, 1, 10}},
	}
	for _, tt := range tests {
		if got := spread(tt.in); got != tt.want {
			t.Errorf("spread(%v) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}
