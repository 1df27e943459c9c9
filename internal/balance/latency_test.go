package balance

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLatBucketBounds: every duration falls in a bucket whose upper bound
// is at least it and at most 25% above the bucket's lower bound.
func TestLatBucketBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := int64(r.Uint64N(1 << latMaxExp))
		i := latBucket(d)
		if i < 0 || i >= latBuckets {
			t.Fatalf("latBucket(%d) = %d; want in [0, %d)", d, i, latBuckets)
		}
		if up := latUpper(i); up < d {
			t.Fatalf("latUpper(latBucket(%d)) = %d; want >= %d", d, up, d)
		}
		if i > 0 {
			lo := latUpper(i - 1)
			if lo > d || float64(latUpper(i)) > 1.25*float64(lo) {
				t.Fatalf("bucket %d of %d spans (%d, %d]; want it to hold d and span at most 25%%", i, d, lo, latUpper(i))
			}
		}
	}
	if i := latBucket(1 << 50); i != latBuckets-1 {
		t.Errorf("latBucket(2^50) = %d; want the last bucket, %d", i, latBuckets-1)
	}
}

// ms is a duration in ms as the pool clock's nanoseconds.
func ms(n float64) int64 { return int64(n * float64(time.Millisecond)) }

// TestPerTryTimeout: the per-try timeout is Factor times the percentile of
// the samples, between Min and Max, and Max until there are enough.
func TestPerTryTimeout(t *testing.T) {
	up := func(d int64) time.Duration { return time.Duration(latUpper(latBucket(d))) }
	tests := []struct {
		name    string
		hedge   Hedge
		samples []int64 // ms: each value 10 times
		want    time.Duration
	}{
		{"too few samples", Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: time.Second}, []int64{ms(10)}, time.Second},
		{"p99 of one latency", Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: time.Second}, []int64{ms(10), ms(10), ms(10), ms(10), ms(10)}, 2 * up(ms(10))},
		{"p99 sees the slow tail", Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: time.Second},
			[]int64{ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(300)}, 2 * up(ms(300))},
		{"p50 does not", Hedge{Percentile: 50, Factor: 2, Min: time.Millisecond, Max: time.Second},
			[]int64{ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(5), ms(300)}, 2 * up(ms(5))},
		{"floored", Hedge{Percentile: 99, Factor: 2, Min: 50 * time.Millisecond, Max: time.Second}, []int64{ms(1), ms(1), ms(1), ms(1), ms(1)}, 50 * time.Millisecond},
		{"capped", Hedge{Percentile: 99, Factor: 3, Min: time.Millisecond, Max: time.Second}, []int64{ms(900), ms(900), ms(900), ms(900), ms(900)}, time.Second},
		{"fixed", Hedge{Percentile: 99, Factor: 2, Min: 200 * time.Millisecond, Max: 200 * time.Millisecond}, []int64{ms(10)}, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		l := newLatencies(tt.hedge, 0)
		now := ms(1)
		for _, d := range tt.samples {
			for range 10 {
				l.observe(d, now)
			}
		}
		if got := l.perTry(now); got != tt.want {
			t.Errorf("%s: perTry = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// TestPerTryRefresh: the timeout is derived again only latRefresh after it
// last was, and follows the samples of the last two windows.
func TestPerTryRefresh(t *testing.T) {
	h := Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: 10 * time.Second}
	l := newLatencies(h, 0)
	now := int64(0)
	feed := func(d int64, n int) {
		for range n {
			l.observe(d, now)
		}
	}
	fast, slow := 2*time.Duration(latUpper(latBucket(ms(10)))), 2*time.Duration(latUpper(latBucket(ms(800))))
	feed(ms(10), 100)
	if got := l.perTry(now); got != fast {
		t.Fatalf("perTry after fast tries = %v; want %v", got, fast)
	}
	feed(ms(800), 100) // half the samples slow: the p99 is slow
	if got := l.perTry(now + int64(latRefresh) - 1); got != fast {
		t.Errorf("perTry before latRefresh passed = %v; want still %v", got, fast)
	}
	now += int64(latRefresh)
	if got := l.perTry(now); got != slow {
		t.Errorf("perTry once latRefresh passed = %v; want %v", got, slow)
	}
	// Two windows of fast tries push the slow ones out.
	for range 2 {
		now += int64(latPeriod)
		feed(ms(10), latMinSamples)
	}
	now += int64(latRefresh)
	if got := l.perTry(now); got != fast {
		t.Errorf("perTry after two windows of fast tries = %v; want %v", got, fast)
	}
}

// TestLatencyQuietWindowKept: a window gives way only once it holds
// latMinSamples samples, so a quiet app keeps its estimate.
func TestLatencyQuietWindowKept(t *testing.T) {
	h := Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: 10 * time.Second}
	l := newLatencies(h, 0)
	want := 2 * time.Duration(latUpper(latBucket(ms(20))))
	now := int64(0)
	for range latMinSamples {
		l.observe(ms(20), now)
	}
	for range 10 { // a quiet hour: one try every 6 minutes
		now += int64(6 * time.Minute)
		l.observe(ms(20), now)
	}
	if got := l.perTry(now); got != want {
		t.Errorf("perTry of a quiet app = %v; want %v, from its older tries", got, want)
	}
}

// BenchmarkLatencyObserve is the request path's cost of a sample.
func BenchmarkLatencyObserve(b *testing.B) {
	l := newLatencies(Hedge{Percentile: 99, Factor: 2, Min: time.Millisecond, Max: time.Second}, 0)
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 1000
		l.observe(ms(3), now)
		l.perTry(now)
	}
}
