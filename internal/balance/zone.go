package balance

// saturated reports whether the local zone is saturated: every candidate
// in it has spill or more requests in flight per unit of weight. Then
// candidates in every zone join the draw and the least-in-flight rule
// decides as usual, so that another zone gets requests while it is less
// busy. A local target that is draining, unhealthy or ejected is no
// candidate: it counts neither as saturated nor as having room.
//
// pick calls it only when the draw among local candidates chose a
// saturated one, so that the common case costs what it did without zones.
func saturated(ts []*target, now int64, tried []*target, spill int64) bool {
	for _, t := range ts {
		if t.local && t.inflight.Load() < spill*t.weight.Load() && candidate(t, now, tried) {
			return false
		}
	}
	return true
}
