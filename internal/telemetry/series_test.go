package telemetry

import (
	"math"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(unix int64) {
	c.mu.Lock()
	c.t = time.Unix(unix, 250e6) // a quarter into the second
	c.mu.Unlock()
}

// t0 is a multiple of 4 s, so that 4 s steps start there.
const t0 = 1795000000

// same reports whether got equals want, NaN equalling NaN.
func same(got, want float64) bool {
	return got == want || math.IsNaN(got) && math.IsNaN(want)
}

func TestSeriesOneStep(t *testing.T) {
	c := new(clock)
	c.set(t0)
	s := NewSeries(SeriesOptions{Apps: []string{"idle"}, Now: c.now})
	// 100 requests taking 1ms..100ms; every tenth a 500; 40 hits, 10
	// stale, 30 misses, 20 passes.
	for i := 1; i <= 100; i++ {
		r := Request{App: "web", Status: 200, Duration: time.Duration(i) * time.Millisecond}
		if i%10 == 0 {
			r.Status = 500
		}
		switch {
		case i <= 40:
			r.Cache = "hit"
		case i <= 50:
			r.Cache = "stale"
		case i <= 80:
			r.Cache = "miss"
		default:
			r.Cache = "pass"
		}
		s.Observe(r)
	}
	s.Observe(Request{Status: 404, Duration: time.Millisecond}) // no app: not recorded
	c.set(t0 + 3)
	w := s.Window(time.Minute)

	if w.Step != time.Second || !w.End.Equal(time.Unix(t0+3, 0)) {
		t.Fatalf("Window(1m) step %s, end %s; want 1s, %s", w.Step, w.End, time.Unix(t0+3, 0).UTC())
	}
	if len(w.Apps) != 2 {
		t.Fatalf("Window(1m) has apps %v; want idle and web", w.Apps)
	}
	web := w.Apps["web"]
	for name, vs := range map[string]int{"t": len(web.T), "rps": len(web.RPS), "errors": len(web.Errors), "p50": len(web.P50),
		"p95": len(web.P95), "p99": len(web.P99), "hit_ratio": len(web.HitRatio)} {
		if vs != 60 {
			t.Errorf("len(%s) = %d; want 60", name, vs)
		}
	}
	if web.T[0] != t0-57 || web.T[59] != t0+2 {
		t.Errorf("t = %d..%d; want %d..%d", web.T[0], web.T[59], t0-57, t0+2)
	}
	nan := math.NaN()
	// Steps before the series began have no data; t0 holds the
	// requests; t0+1 and t0+2 had none. Quantiles are bucket middles:
	// 50ms is in [49.152, 53.248), 95ms in [90.112, 98.304), 99ms in
	// [98.304, 106.496).
	tests := []struct {
		i                                  int
		rps, errors, p50, p95, p99, hitRat float64
	}{
		{0, nan, nan, nan, nan, nan, nan},
		{56, nan, nan, nan, nan, nan, nan},
		{57, 100, 0.1, 51.2, 94.208, 102.4, 0.625},
		{58, 0, nan, nan, nan, nan, nan},
		{59, 0, nan, nan, nan, nan, nan},
	}
	for _, tt := range tests {
		got := []float64{web.RPS[tt.i], web.Errors[tt.i], web.P50[tt.i], web.P95[tt.i], web.P99[tt.i], web.HitRatio[tt.i]}
		want := []float64{tt.rps, tt.errors, tt.p50, tt.p95, tt.p99, tt.hitRat}
		for k := range got {
			if !same(got[k], want[k]) {
				t.Errorf("step %d (t=%d): rps, errors, p50, p95, p99, hit_ratio = %v; want %v", tt.i, web.T[tt.i], got, want)
				break
			}
		}
	}
	if idle := w.Apps["idle"]; idle.RPS[59] != 0 || !math.IsNaN(idle.P50[59]) {
		t.Errorf("idle app's last step: rps %v, p50 %v; want 0, NaN", idle.RPS[59], idle.P50[59])
	}
}

func TestSeriesWindowSteps(t *testing.T) {
	tests := []struct {
		window time.Duration
		step   time.Duration
		n      int
	}{
		{time.Minute, time.Second, 60},
		{15 * time.Minute, time.Second, 900},
		{16 * time.Minute, 2 * time.Second, 480},
		{30 * time.Minute, 2 * time.Second, 900},
		{60 * time.Minute, 4 * time.Second, 900},
		{3 * time.Hour, 4 * time.Second, 900}, // capped at SeriesSpan
	}
	c := new(clock)
	c.set(t0 + 5)
	s := NewSeries(SeriesOptions{Apps: []string{"web"}, Now: c.now})
	for _, tt := range tests {
		w := s.Window(tt.window)
		if w.Step != tt.step || len(w.Apps["web"].T) != tt.n {
			t.Errorf("Window(%s) = step %s, %d steps; want %s, %d", tt.window, w.Step, len(w.Apps["web"].T), tt.step, tt.n)
		}
		if end := w.End.Unix(); end%int64(tt.step/time.Second) != 0 || end > t0+5 {
			t.Errorf("Window(%s).End = %d; want a multiple of the step, not after now (%d)", tt.window, end, t0+5)
		}
	}
}

// TestSeriesLongSteps: a step of several seconds sums them; its rate is
// over the seconds it covers.
func TestSeriesLongSteps(t *testing.T) {
	c := new(clock)
	c.set(t0)
	s := NewSeries(SeriesOptions{Now: c.now})
	for range 8 {
		s.Observe(Request{App: "web", Status: 200, Duration: 3 * time.Microsecond, Cache: "miss"})
	}
	c.set(t0 + 1)
	for range 4 {
		s.Observe(Request{App: "web", Status: 503, Duration: 3 * time.Microsecond, Cache: "revalidated"})
	}
	c.set(t0 + 5)
	web := s.Window(time.Hour).Apps["web"]
	last := len(web.T) - 1
	if web.T[last] != t0 || web.RPS[last] != 3 || web.Errors[last] != 4.0/12 || web.P99[last] != 0.0035 || web.HitRatio[last] != 0 {
		t.Errorf("last 4s step: t %d rps %v errors %v p99 %v hit_ratio %v; want %d 3 %v 0.0035 0",
			web.T[last], web.RPS[last], web.Errors[last], web.P99[last], web.HitRatio[last], t0, 4.0/12)
	}
	if !math.IsNaN(web.RPS[last-1]) {
		t.Errorf("step before the series began: rps %v; want NaN", web.RPS[last-1])
	}
}

// TestSeriesRingWraps: a second's bucket is reused an hour later, and
// what it held then is gone; a clock that went back is ignored.
func TestSeriesRingWraps(t *testing.T) {
	c := new(clock)
	c.set(t0)
	s := NewSeries(SeriesOptions{Now: c.now})
	s.Observe(Request{App: "web", Status: 200, Duration: time.Millisecond})
	later := int64(t0 + ringSeconds)
	c.set(later)
	s.Observe(Request{App: "web", Status: 500, Duration: time.Millisecond})
	c.set(t0) // back: would land in the same bucket, holding a newer second
	s.Observe(Request{App: "web", Status: 200, Duration: time.Millisecond})
	c.set(later + 1)
	web := s.Window(time.Minute).Apps["web"]
	if got := web.RPS[59]; got != 1 || web.Errors[59] != 1 {
		t.Errorf("second %d: rps %v errors %v; want 1, 1", later, got, web.Errors[59])
	}
	var total float64
	for _, v := range web.RPS {
		if !math.IsNaN(v) {
			total += v
		}
	}
	if total != 1 {
		t.Errorf("sum of rps over the last minute = %v; want 1", total)
	}
}

func TestLatencyBuckets(t *testing.T) {
	tests := []struct {
		d    time.Duration
		mid  float64 // ms
		want int
	}{
		{0, 0.0005, 0},
		{-time.Second, 0.0005, 0},
		{7 * time.Microsecond, 0.0075, 7},
		{8 * time.Microsecond, 0.0085, 8},
		{15 * time.Microsecond, 0.0155, 15},
		{16 * time.Microsecond, 0.017, 16},
		{time.Millisecond, 0.992, 8 + 6*8 + 7},
		{time.Hour, latencyMid(latencyBuckets - 1), latencyBuckets - 1},
	}
	for _, tt := range tests {
		if got := latencyIndex(tt.d); got != tt.want || latencyMid(got) != tt.mid {
			t.Errorf("latencyIndex(%s) = %d (middle %vms); want %d (%vms)", tt.d, got, latencyMid(got), tt.want, tt.mid)
		}
	}
	// Every duration up to the top is reported within 1/16 of itself,
	// and buckets follow each other in order.
	prev := 0
	for us := int64(8); us < 1<<latencyTopExp; us += 1 + us/50 {
		i := latencyIndex(time.Duration(us) * time.Microsecond)
		if i < prev {
			t.Fatalf("latencyIndex(%dµs) = %d, below the previous %d", us, i, prev)
		}
		prev = i
		if mid := latencyMid(i) * 1000; math.Abs(mid-float64(us))/float64(us) > 1.0/16 {
			t.Fatalf("latencyIndex(%dµs) = %d, middle %vµs: off by more than 1/16", us, i, mid)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	s := NewSeries(SeriesOptions{Apps: []string{"web"}})
	r := Request{App: "web", Route: "/", Method: "GET", Status: 200, Duration: 1234 * time.Microsecond, Cache: "hit"}
	b.ReportAllocs()
	for b.Loop() {
		s.Observe(r)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	s := NewSeries(SeriesOptions{Apps: []string{"web"}})
	r := Request{App: "web", Route: "/", Method: "GET", Status: 200, Duration: 1234 * time.Microsecond, Cache: "hit"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Observe(r)
		}
	})
}
