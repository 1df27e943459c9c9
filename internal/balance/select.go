package balance

// pick chooses the target for one attempt among ts, never one in tried, by
// power of two choices: two distinct eligible targets are drawn at random
// and the one with fewer requests in flight wins (the first drawn on a tie,
// which is random too). Eligible targets in the local zone are preferred;
// others are drawn from only when no local one is eligible. When no target
// is eligible at all, ejected-but-healthy ones are drawn from (panic mode):
// better a target that failed recently than no target.
//
// It is deterministic given the targets' counters, now and the random r,
// and allocates nothing. It returns nil when there is no candidate.
func pick(ts []*target, now int64, tried []*target, r uint64) *target {
	if t := pickFrom(ts, now, tried, r, false); t != nil {
		return t
	}
	return pickFrom(ts, now, tried, r, true)
}

func pickFrom(ts []*target, now int64, tried []*target, r uint64, panicMode bool) *target {
	local, all := 0, 0
	for _, t := range ts {
		if candidate(t, now, tried, panicMode) {
			all++
			if t.local {
				local++
			}
		}
	}
	n, localOnly := all, local > 0
	if localOnly {
		n = local
	}
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
		if !candidate(t, now, tried, panicMode) || (localOnly && !t.local) {
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
		// Eligibility changed between the two scans; rare, and any
		// remaining draw will do.
		return b
	case b == nil:
		return a
	case b.inflight.Load() < a.inflight.Load():
		return b
	}
	return a
}

func candidate(t *target, now int64, tried []*target, panicMode bool) bool {
	if !t.eligible(now, panicMode) {
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
