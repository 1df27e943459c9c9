package balance

import (
	"cmp"
	"math"
	"slices"
)

// pick chooses the target for one attempt among ts, never one in tried, by
// power of two choices: two distinct candidates are drawn at random and the
// one with fewer requests in flight per unit of weight wins (the first drawn
// on a tie, which is random too). Candidates are the eligible targets; those
// in the local zone are preferred, and others are drawn from only when no
// local one is eligible or the local zone is saturated (see saturated). When
// no target is eligible at all, ejected-but-healthy ones are drawn from
// (panic mode): better a target that failed recently than none.
//
// It is deterministic given the targets' counters, now and the random r,
// and allocates nothing. It returns nil when there is no candidate.
func pick(ts []*target, now int64, tried []*target, r uint64, spill int64) *target {
	if t := pickFrom(ts, now, tried, r, spill); t != nil {
		return t
	}
	return pickFrom(ts, panicMode, tried, r, spill)
}

// panicMode is the time at which pick draws in panic mode: the end of time,
// which no ejection lasts until. Passing it as now rather than a flag keeps
// the scans' arguments in registers.
const panicMode = math.MaxInt64

func pickFrom(ts []*target, now int64, tried []*target, r uint64, spill int64) *target {
	local, all := 0, 0
	for _, t := range ts {
		if candidate(t, now, tried) {
			all++
			if t.local {
				local++
			}
		}
	}
	if local > 0 {
		t := draw(ts, now, tried, r, local, true)
		// The winner of the draw is the less busy of two: only when it is
		// saturated may the whole local zone be.
		if t != nil && (spill <= 0 || t.inflight.Load() < spill*t.weight.Load() || !saturated(ts, now, tried, spill)) {
			return t
		}
	}
	return draw(ts, now, tried, r, all, false)
}

// draw picks by power of two choices among the n candidates in ts, only
// those in the local zone if localOnly.
func draw(ts []*target, now int64, tried []*target, r uint64, n int, localOnly bool) *target {
	if n == 0 {
		return nil
	}
	i, j := 0, 0
	if n > 1 {
		i = bounded(uint32(r), n)
		j = bounded(uint32(r>>32), n-1)
		if j >= i {
			j++
		}
	}
	var a, b *target
	k := 0
	for _, t := range ts {
		if !candidate(t, now, tried) || (localOnly && !t.local) {
			continue
		}
		if k == i {
			a = t
		}
		if k == j {
			b = t
		}
		k++
	}
	switch {
	case a == nil:
		// Eligibility changed between the scans; rare, and any
		// remaining draw will do.
		return b
	case b == nil:
		return a
	case b.inflight.Load()*a.weight.Load() < a.inflight.Load()*b.weight.Load():
		return b // b is less busy per instance it stands for
	}
	return a
}

// candidate reports whether t may be drawn at now for a request that
// already tried the targets in tried.
func candidate(t *target, now int64, tried []*target) bool {
	if !t.eligible(now) {
		return false
	}
	for _, u := range tried {
		if u == t {
			return false
		}
	}
	return true
}

// bounded maps x uniformly onto [0, n) (Lemire's multiply-shift).
func bounded(x uint32, n int) int {
	return int(uint64(x) * uint64(n) >> 32)
}

// byPriority groups ts by Target.Priority, lowest first, keeping each
// group sorted as ts is; nil when every target has priority 0.
func byPriority(ts []*target) *[][]*target {
	if !slices.ContainsFunc(ts, func(t *target) bool { return t.Priority != 0 }) {
		return nil
	}
	sorted := slices.Clone(ts)
	slices.SortStableFunc(sorted, func(a, b *target) int { return cmp.Compare(a.Priority, b.Priority) })
	var levels [][]*target
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Priority == sorted[i].Priority {
			j++
		}
		levels = append(levels, sorted[i:j:j])
		i = j
	}
	return &levels
}

// pickLevels is pick over targets grouped by priority: the first level
// with an eligible target is drawn from, as HAProxy uses its backup
// servers only when no other is up. Panic mode comes only after every
// level: a healthy backup is better than an ejected primary.
func pickLevels(levels [][]*target, now int64, tried []*target, r uint64, spill int64) *target {
	for _, ts := range levels {
		if t := pickFrom(ts, now, tried, r, spill); t != nil {
			return t
		}
	}
	for _, ts := range levels {
		if t := pickFrom(ts, panicMode, tried, r, spill); t != nil {
			return t
		}
	}
	return nil
}
