package deploy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds what a Rollout tells: its progress, its plan and how
// it ended, in the words the CLI prints.

// Progress returns a snapshot of the rollout.
func (r *Rollout) Progress() RolloutProgress {
	p := RolloutProgress{Phase: r.phase, Target: r.target(), Runs: make(map[string]string), Halted: r.halt, Result: r.result, Message: r.msg}
	if r.phase != PhaseDone {
		p.Zone = r.self.Zone
		if r.wave >= 0 {
			p.Zone = r.waves[r.wave][0].Zone
		}
	}
	for _, n := range r.order {
		switch {
		case n.state == rolling:
			p.Rolling = append(p.Rolling, n.Name)
		case n.state == unreached:
			p.Unreached = append(p.Unreached, n.Name)
		case n.runs != "":
			p.Runs[n.Name] = n.runs
		}
	}
	return p
}

func (r *Rollout) planMessage() string {
	parts := []string{fmt.Sprintf("%s %s -> %s across the cluster: %s (zone %s) first", r.cfg.Kind, r.cfg.From, r.cfg.To, r.self.Name, zoneName(r.self.Zone))}
	for _, wave := range r.waves {
		parts = append(parts, fmt.Sprintf("zone %s (%s)", zoneName(wave[0].Zone), memberNames(wave)))
	}
	return strings.Join(parts, ", then ")
}

// finishSelfFailed ends a rollout whose coordinator did not succeed:
// nothing else was touched. What runs there is what its deploy said, or
// From if it did not say (it could not start, or tandem stopped).
func (r *Rollout) finishSelfFailed() []RolloutAction {
	result, runs := r.self.result, r.self.runs
	if result == "" || result == ResultSucceeded {
		result = ResultFailed
	}
	if runs == "" {
		runs = r.cfg.From
	}
	return r.finish(result, runs, fmt.Sprintf("%s: %s; no other node was changed", result, r.self.reason))
}

func (r *Rollout) finishSucceeded(now time.Time) []RolloutAction {
	msg := fmt.Sprintf("%s: %s runs on %s (%s)%s", ResultSucceeded, r.cfg.To, joinNames(r.names(rolled, false)), r.took(now), r.notReached(r.cfg.To))
	return r.finish(ResultSucceeded, r.cfg.To, msg)
}

// finishRollback ends a rollout that rolled back: rolled back if every
// node asked to roll back did or was not reached, failed otherwise.
func (r *Rollout) finishRollback(now time.Time) []RolloutAction {
	undo := r.reasons(func(n *rollNode) bool { return n.back })
	result := ResultRolledBack
	msg := fmt.Sprintf("%s: %s; %s runs on %s again", result, joinReasons(r.failures), r.cfg.From, joinNames(r.names(rolled, true)))
	if len(undo) > 0 {
		result = ResultFailed
		msg = fmt.Sprintf("%s: %s; the rollback to %s failed too: %s", result, joinReasons(r.failures), r.cfg.From, joinReasons(undo))
	}
	return r.finish(result, r.cfg.From, fmt.Sprintf("%s (%s)%s", msg, r.took(now), r.notReached(r.cfg.From)))
}

// finishHalted ends a rollout that stopped short, saying why and what
// runs where.
func (r *Rollout) finishHalted(now time.Time) []RolloutAction {
	parts := []string{fmt.Sprintf("%s: %s; nothing more was started, nothing rolled back", ResultInterrupted, r.halt)}
	if fails := r.reasons(func(n *rollNode) bool { return !n.back }); len(fails) > 0 {
		parts = append(parts, joinReasons(fails))
	}
	if fails := r.reasons(func(n *rollNode) bool { return n.back }); len(fails) > 0 {
		parts = append(parts, "rolling back: "+joinReasons(fails))
	}
	parts = append(parts, r.where()...)
	msg := fmt.Sprintf("%s (%s)%s", strings.Join(parts, "; "), r.took(now), r.notReached(""))
	return r.finish(ResultInterrupted, "", msg)
}

// where says what runs where, as far as the nodes' answers said:
// "v2 runs on a, b", "v1 runs on c", "not changed: d", "unknown: e".
func (r *Rollout) where() []string {
	var versions []string
	on := make(map[string][]string)
	var unchanged, unknown []string
	for _, n := range r.order {
		switch {
		case n.state == untouched:
			unchanged = append(unchanged, n.Name)
		case n.state == unreached:
		case n.runs == "":
			unknown = append(unknown, n.Name)
		default:
			if _, seen := on[n.runs]; !seen {
				versions = append(versions, n.runs)
			}
			on[n.runs] = append(on[n.runs], n.Name)
		}
	}
	var out []string
	for _, v := range versions {
		out = append(out, fmt.Sprintf("%s runs on %s", v, joinNames(on[v])))
	}
	if len(unchanged) > 0 {
		out = append(out, "not changed: "+joinNames(unchanged))
	}
	if len(unknown) > 0 {
		out = append(out, "unknown what runs on "+joinNames(unknown))
	}
	return out
}

// notReached names the nodes not reached and says they converge to
// version ("" for the cluster's release) when they return; "" if every
// node was reached.
func (r *Rollout) notReached(version string) string {
	fwd, back := r.names(unreached, false), r.names(unreached, true)
	if len(fwd)+len(back) == 0 {
		return ""
	}
	var b strings.Builder
	if len(fwd) > 0 {
		b.WriteString("; not reached: " + joinNames(fwd))
	}
	if len(back) > 0 {
		fmt.Fprintf(&b, "; not reached to roll back: %s, still on %s", joinNames(back), r.cfg.To)
	}
	if version == "" {
		version = "the cluster's release"
	}
	if len(fwd)+len(back) == 1 {
		fmt.Fprintf(&b, " (it converges to %s when it returns)", version)
	} else {
		fmt.Fprintf(&b, " (they converge to %s when they return)", version)
	}
	return b.String()
}

func (r *Rollout) took(now time.Time) time.Duration { return now.Sub(r.began).Round(time.Millisecond) }

func joinNames(names []string) string { return strings.Join(names, ", ") }

func joinReasons(reasons []string) string { return strings.Join(reasons, "; ") }

func (r *Rollout) report(step, node, version, msg string) RolloutAction {
	return RolloutAction{Kind: RollReport, Step: step, Node: node, Version: version, Message: msg}
}

// rolling names the nodes whose answer is awaited.
func (r *Rollout) rolling() []string { return r.names(rolling, false, true) }

// names names the nodes in state, in rollout order, among those asked to
// roll back if back is among backs (both when backs has both).
func (r *Rollout) names(state nodeState, backs ...bool) []string {
	var out []string
	for _, n := range r.order {
		if n.state == state && slices.Contains(backs, n.back) {
			out = append(out, n.Name)
		}
	}
	return out
}

// reasons says why the nodes that match failed, in rollout order.
func (r *Rollout) reasons(match func(*rollNode) bool) []string {
	var out []string
	for _, n := range r.order {
		if n.state == failed && match(n) {
			out = append(out, n.reason)
		}
	}
	return out
}

func zoneName(z string) string {
	if z == "" {
		return `""`
	}
	return z
}
