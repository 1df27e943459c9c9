package telemetry

import (
	"math"
	"math/bits"
	"time"
)

// latency is a small fixed log-linear histogram of request durations, in
// microseconds: 0..7µs one bucket each, then every power of two split
// into latencySub equal buckets, up to 2^latencyTopExp µs (about 67s);
// longer durations share the last bucket. A value is known to within
// 1/latencySub of itself (12.5%), and is reported as the middle of its
// bucket, so within ±6.25%.
type latency [latencyBuckets]uint32

const (
	latencySubBits = 3
	latencySub     = 1 << latencySubBits
	latencyTopExp  = 26
	latencyBuckets = latencySub + (latencyTopExp-latencySubBits)*latencySub
)

// latencyIndex is the bucket of duration d.
func latencyIndex(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < latencySub {
		return int(us)
	}
	exp := bits.Len64(us) - 1 // us is in [2^exp, 2^(exp+1))
	if exp >= latencyTopExp {
		return latencyBuckets - 1
	}
	shift := exp - latencySubBits
	sub := int(us>>shift) & (latencySub - 1)
	return latencySub + shift*latencySub + sub
}

// latencyMid is the middle of bucket i, in milliseconds.
func latencyMid(i int) float64 {
	if i < latencySub {
		return (float64(i) + 0.5) / 1000
	}
	shift := (i - latencySub) / latencySub
	sub := (i - latencySub) % latencySub
	lower := uint64(latencySub+sub) << shift
	width := uint64(1) << shift
	return (float64(lower) + float64(width)/2) / 1000
}

// add adds the counts of o to h.
func (h *latency) add(o *latency) {
	for i, n := range o {
		h[i] += n
	}
}

// quantile returns the q-quantile (0 < q <= 1) of the n durations in h,
// in milliseconds, by nearest rank: the middle of the bucket holding the
// ceil(q·n)-th smallest duration.
func (h *latency) quantile(q float64, n uint64) float64 {
	rank := uint64(math.Ceil(q*float64(n) - 1e-9)) // 0.95·100 is 95, not 95.000001
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return latencyMid(i)
		}
	}
	return latencyMid(latencyBuckets - 1)
}
