package balance

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Shape of the latency histogram: latSub buckets per power of two of
// nanoseconds (so a bucket's bounds are at most 25% apart), from
// 2^latMinExp ns (1µs; everything faster shares bucket 0) up to 2^latMaxExp
// ns (18 minutes; everything slower shares the last bucket).
const (
	latSubBits = 2
	latSub     = 1 << latSubBits
	latMinExp  = 10
	latMaxExp  = 40
	latBuckets = 1 + (latMaxExp-latMinExp)*latSub
)

// Windows of the histogram: a window is current for at least latPeriod and
// until it holds latMinSamples samples; the per-try timeout is derived from
// the current window and the one before, so from the last latPeriod to
// 2×latPeriod of traffic (longer for a quiet app). It is derived again at
// most every latRefresh.
const (
	latPeriod     = 5 * time.Second
	latMinSamples = 50
	latRefresh    = 100 * time.Millisecond
)

// latencies keeps the times to response headers of a pool's recent
// successful tries, and derives from them the per-try timeout of hedged
// requests (see Hedge). Recording a sample is two atomic adds and the read
// of one deadline; the percentile is computed at most every latRefresh, by
// whichever request finds it due, and read by the others from an atomic.
//
// Time is an int64 of nanoseconds on the pool's monotonic clock, passed in,
// so the derivation is a pure function of the samples and the times given.
type latencies struct {
	pct, factor float64 // Hedge.Percentile, Hedge.Factor
	min, max    int64   // Hedge.Min, Hedge.Max in ns

	windows   [2]latWindow
	cur       atomic.Uint32 // index of the window samples go to
	rotateAt  atomic.Int64  // when the current window may give way
	refreshAt atomic.Int64  // when timeout is next derived
	timeout   atomic.Int64  // the derived per-try timeout, ns

	mu sync.Mutex // serialises rotation and derivation
}

// latWindow is one window of the histogram.
type latWindow struct {
	counts [latBuckets]atomic.Uint64
	total  atomic.Uint64
}

func newLatencies(h Hedge, now int64) *latencies {
	l := &latencies{pct: h.Percentile, factor: h.Factor, min: int64(h.Min), max: int64(h.Max)}
	l.rotateAt.Store(now + int64(latPeriod))
	l.refreshAt.Store(now)
	l.timeout.Store(l.max)
	return l
}

// observe records the time to response headers d of a successful try that
// ended at now.
func (l *latencies) observe(d, now int64) {
	if now >= l.rotateAt.Load() {
		l.rotate(now)
	}
	w := &l.windows[l.cur.Load()]
	w.counts[latBucket(d)].Add(1)
	w.total.Add(1)
}

// rotate makes the older window the current one, emptied, if the current
// one is old enough and holds enough samples. Samples recorded meanwhile
// may land in either window, or be lost; the histogram is an estimate.
func (l *latencies) rotate(now int64) {
	if !l.mu.TryLock() {
		return // another request rotates
	}
	defer l.mu.Unlock()
	if now < l.rotateAt.Load() {
		return
	}
	cur := l.cur.Load()
	if l.windows[cur].total.Load() < latMinSamples {
		l.rotateAt.Store(now + int64(latPeriod)/4) // look again soon
		return
	}
	next := &l.windows[1-cur]
	for i := range next.counts {
		next.counts[i].Store(0)
	}
	next.total.Store(0)
	l.cur.Store(1 - cur)
	l.rotateAt.Store(now + int64(latPeriod))
}

// perTry returns the per-try timeout at now: Factor times the Percentile
// of the recent samples, within [Min, Max]; Max until there are
// latMinSamples samples.
func (l *latencies) perTry(now int64) time.Duration {
	if now >= l.refreshAt.Load() && l.mu.TryLock() {
		if now >= l.refreshAt.Load() {
			l.timeout.Store(l.derive())
			l.refreshAt.Store(now + int64(latRefresh))
		}
		l.mu.Unlock()
	}
	return time.Duration(l.timeout.Load())
}

// derive computes the per-try timeout from both windows.
func (l *latencies) derive() int64 {
	a, b := &l.windows[0], &l.windows[1]
	total := a.total.Load() + b.total.Load()
	if total < latMinSamples {
		return l.max
	}
	rank := uint64(math.Ceil(l.pct / 100 * float64(total)))
	var seen uint64
	for i := range a.counts {
		seen += a.counts[i].Load() + b.counts[i].Load()
		if seen >= rank {
			return clamp(int64(l.factor*float64(latUpper(i))), l.min, l.max)
		}
	}
	// Counts were added while they were summed: the slowest bucket.
	return clamp(int64(l.factor*float64(latUpper(latBuckets-1))), l.min, l.max)
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// latBucket returns the bucket of a duration of d ns.
func latBucket(d int64) int {
	if d < 1<<latMinExp {
		return 0
	}
	e := bits.Len64(uint64(d)) - 1 // d is in [2^e, 2^(e+1))
	if e >= latMaxExp {
		return latBuckets - 1
	}
	sub := int(uint64(d)>>(e-latSubBits)) & (latSub - 1)
	return 1 + (e-latMinExp)*latSub + sub
}

// latUpper returns the upper bound, in ns, of bucket i: no sample in it is
// longer, but for the last bucket, which also holds every sample longer
// than 2^latMaxExp ns.
func latUpper(i int) int64 {
	if i == 0 {
		return 1 << latMinExp
	}
	e, sub := (i-1)/latSub+latMinExp, int64((i-1)%latSub)
	return (latSub + sub + 1) << (e - latSubBits)
}
