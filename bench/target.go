package main

import (
	"fmt"
	"time"
)

// Target is one of the figures tandem must reach (DESIGN.md §7), checked
// against the peers measured in the same run.
type Target struct {
	Name   string      `json:"name"`
	Status TargetState `json:"status"`
	Detail string      `json:"detail"`
}

// TargetState is a target's outcome. A target tandem could not be measured
// on is MISSED, never left out.
type TargetState string

// Target outcomes.
const (
	TargetMet         TargetState = "MET"
	TargetMissed      TargetState = "MISSED"
	TargetNotMeasured TargetState = "NOT MEASURED" // the reference peer has no figure, or the scenario was not run
)

// idleRSSLimit is the most tandem may use at rest.
const idleRSSLimit = 60 << 20

// figure picks one median out of a Summary.
type figure struct {
	name string
	get  func(Summary) float64
	fmt  func(float64) string
}

var (
	figCPU  = figure{"CPU/req", func(s Summary) float64 { return s.CPUPerReq.Median }, fmtMicros}
	figP99  = figure{"p99", func(s Summary) float64 { return s.P99.Median }, fmtDur}
	figRPS  = figure{"req/s", func(s Summary) float64 { return s.RPS.Median }, func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }}
	figIdle = figure{"idle RSS", func(s Summary) float64 { return s.IdleRSS.Median }, fmtMiB}
)

func fmtMicros(ns float64) string { return fmt.Sprintf("%.1f µs", ns/float64(time.Microsecond)) }

// evaluateTargets checks every target against the results.
func evaluateTargets(results []*Result) []Target {
	find := func(scenario, peer string) *Result {
		for _, r := range results {
			if r.Scenario == scenario && r.Peer == peer {
				return r
			}
		}
		return nil
	}
	cmp := func(name, scenario string, f figure, ref string, ok func(t, r float64) bool) Target {
		return compareTarget(name, f, find(scenario, "tandem"), find(scenario, ref), ref, ok)
	}
	lt := func(t, r float64) bool { return t < r }
	ts := []Target{
		cmp("cache hit 1 KiB: CPU/req below Varnish's", "hit-1k", figCPU, "varnish", lt),
		cmp("cache hit 1 KiB: CPU/req within 1.5× HAProxy cache's", "hit-1k", figCPU, "haproxy", func(t, r float64) bool { return t <= 1.5*r }),
		cmp("pass-through 1 KiB: CPU/req at most 2× HAProxy's", "pass-1k", figCPU, "haproxy", func(t, r float64) bool { return t <= 2*r }),
		cmp("pass-through 1 KiB: CPU/req below Caddy's", "pass-1k", figCPU, "caddy", lt),
		// "At the same load": the paced scenario offers every peer about
		// the same rate; in pass-1k each peer's p99 is the queueing at its
		// own saturation.
		cmp("pass-through 1 KiB: p99 no worse than nginx's at the same load", "pass-1k-paced", figP99, "nginx", func(t, r float64) bool { return t <= r }),
		cmp("cache hit 100 KiB: req/s at least Varnish's", "hit-100k", figRPS, "varnish", func(t, r float64) bool { return t >= r }),
	}
	return append(ts, idleTarget(results))
}

// compareTarget checks ok(tandem's figure, the reference's figure).
func compareTarget(name string, f figure, t, r *Result, ref string, ok func(t, r float64) bool) Target {
	tg := Target{Name: name}
	switch {
	case t == nil:
		tg.Status, tg.Detail = TargetNotMeasured, "scenario not run"
	case t.Summary == nil:
		tg.Status, tg.Detail = TargetMissed, "tandem: "+resultState(t)
	case r == nil || r.Summary == nil:
		tg.Status = TargetNotMeasured
		tg.Detail = fmt.Sprintf("tandem %s; %s: %s", f.fmt(f.get(*t.Summary)), ref, resultState(r))
	default:
		tv, rv := f.get(*t.Summary), f.get(*r.Summary)
		tg.Status = TargetMissed
		if ok(tv, rv) {
			tg.Status = TargetMet
		}
		tg.Detail = fmt.Sprintf("tandem %s vs %s %s (%.2f×)", f.fmt(tv), ref, f.fmt(rv), ratio(tv, rv))
	}
	return tg
}

// idleTarget checks tandem's idle RSS: the larger of its proxy-mode and
// cache-mode figures, since a real stack runs with the cache on.
func idleTarget(results []*Result) Target {
	tg := Target{Name: "idle RSS below 60 MiB", Status: TargetMissed}
	var worst float64
	var mode Mode
	for _, r := range results {
		if r.Peer == "tandem" && r.Summary != nil && figIdle.get(*r.Summary) > worst {
			worst, mode = figIdle.get(*r.Summary), r.Mode
		}
	}
	if worst == 0 {
		tg.Detail = "tandem: not measured"
		return tg
	}
	if worst < idleRSSLimit {
		tg.Status = TargetMet
	}
	tg.Detail = fmt.Sprintf("tandem %s (%s mode)", figIdle.fmt(worst), mode)
	return tg
}

// resultState says why a result has no figure.
func resultState(r *Result) string {
	switch {
	case r == nil:
		return "not run"
	case r.Reason != "":
		return string(r.Status) + " (" + r.Reason + ")"
	}
	return string(r.Status)
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
