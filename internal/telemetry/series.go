package telemetry

import (
	"math"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// SeriesSpan is how far back a Series remembers.
const SeriesSpan = time.Hour

// ringSeconds is the length of each app's ring of 1-second buckets: the
// span plus slack, so that a window of the whole span whose steps are
// longer than a second still finds its oldest step's seconds.
const ringSeconds = int64(SeriesSpan/time.Second) + 60

// maxSteps bounds the steps a Window returns: longer windows get longer
// steps, so that a chart gets at most this many points.
const maxSteps = 900

// SeriesOptions configure a Series.
type SeriesOptions struct {
	// Apps are recorded from the start, so that they appear in windows
	// before their first request; others are added at their first.
	Apps []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Series records each app's traffic of the last hour in 1-second buckets
// (requests, 5xx answers, cache hits and lookups, a latency histogram)
// for the status page's charts. It lives in memory only: a restarted
// node starts with an empty one. The zero value is not usable; see
// NewSeries. Its methods are safe for concurrent use.
type Series struct {
	now   func() time.Time
	start int64    // the unix second the series began; earlier ones have no data
	apps  sync.Map // app name -> *appSeries
}

// appSeries is one app's ring of seconds.
type appSeries struct {
	mu   sync.Mutex // guards ring
	ring [ringSeconds]second
}

// second is what one app did in one second. A bucket holding another
// second than the one looked for holds nothing for it.
type second struct {
	sec                             int64 // unix second the counts are for
	requests, errors, hits, lookups uint32
	latency                         latency
}

// NewSeries returns an empty series starting now.
func NewSeries(opts SeriesOptions) *Series {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Series{now: opts.Now, start: opts.Now().Unix()}
	for _, app := range opts.Apps {
		s.apps.LoadOrStore(app, new(appSeries))
	}
	return s
}

// Observe records an answered request in the current second of its app.
// Requests without an app (no route matched) are not recorded. Requests
// to leave out (an app's health checks) are the caller's to filter, as
// RequestObserver does.
func (s *Series) Observe(r Request) {
	if r.App == "" {
		return
	}
	v, ok := s.apps.Load(r.App)
	if !ok {
		v, _ = s.apps.LoadOrStore(r.App, new(appSeries))
	}
	a := v.(*appSeries)
	sec := s.now().Unix()
	li := latencyIndex(r.Duration)
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &a.ring[mod(sec, ringSeconds)]
	if b.sec != sec {
		if b.sec > sec {
			return // the clock went back by more than the ring holds
		}
		*b = second{sec: sec}
	}
	b.requests++
	if r.Status >= 500 {
		b.errors++
	}
	switch r.Cache {
	case httpcache.OutcomeHit, httpcache.OutcomeStale:
		b.hits++
		b.lookups++
	case httpcache.OutcomeMiss, httpcache.OutcomeRevalidated:
		b.lookups++
	}
	b.latency[li]++
}

func mod(a, n int64) int64 { return ((a % n) + n) % n }

// Window is a Series' view of the last window of time, in steps.
type Window struct {
	// Step is the length of each step: 1s for windows up to 15 minutes,
	// longer beyond so that there are at most 900 steps.
	Step time.Duration
	// End is the end of the last step, a whole second (the current,
	// incomplete second is left out) and a multiple of Step.
	End time.Time
	// Apps holds each app's values; every slice has one value per step.
	Apps map[string]AppWindow
}

// AppWindow is one app's values over a window, oldest step first. NaN
// marks a step without data: before the series began, or a ratio or
// quantile of a step without requests.
type AppWindow struct {
	T        []int64   // start of each step, in unix seconds
	RPS      []float64 // requests per second
	Errors   []float64 // share of answers that were 5xx, 0..1
	P50      []float64 // latency quantiles, in milliseconds
	P95      []float64
	P99      []float64
	HitRatio []float64 // cache hits / cacheable lookups
}

// Window returns the steps of the last window (at most SeriesSpan) for
// every app recorded.
func (s *Series) Window(window time.Duration) Window {
	secs := int64(min(max(window, time.Second), SeriesSpan) / time.Second)
	step := max(1, (secs+maxSteps-1)/maxSteps)
	n := int(secs / step)
	now := s.now().Unix()
	end := now - mod(now, step)
	w := Window{Step: time.Duration(step) * time.Second, End: time.Unix(end, 0).UTC(), Apps: map[string]AppWindow{}}
	s.apps.Range(func(k, v any) bool {
		w.Apps[k.(string)] = v.(*appSeries).window(end-int64(n)*step, step, n, max(s.start, now-ringSeconds+1))
		return true
	})
	return w
}

// window computes n steps of step seconds from the unix second from;
// seconds before first have no data.
func (a *appSeries) window(from, step int64, n int, first int64) AppWindow {
	w := AppWindow{T: make([]int64, n), RPS: make([]float64, n), Errors: make([]float64, n),
		P50: make([]float64, n), P95: make([]float64, n), P99: make([]float64, n), HitRatio: make([]float64, n)}
	var sum second
	for i := range n {
		t := from + int64(i)*step
		covered := a.sum(&sum, max(t, first), t+step)
		w.T[i] = t
		w.RPS[i], w.Errors[i], w.HitRatio[i] = math.NaN(), math.NaN(), math.NaN()
		w.P50[i], w.P95[i], w.P99[i] = math.NaN(), math.NaN(), math.NaN()
		if covered == 0 {
			continue
		}
		w.RPS[i] = float64(sum.requests) / float64(covered)
		if sum.requests > 0 {
			reqs := uint64(sum.requests)
			w.Errors[i] = float64(sum.errors) / float64(reqs)
			w.P50[i] = sum.latency.quantile(0.50, reqs)
			w.P95[i] = sum.latency.quantile(0.95, reqs)
			w.P99[i] = sum.latency.quantile(0.99, reqs)
		}
		if sum.lookups > 0 {
			w.HitRatio[i] = float64(sum.hits) / float64(sum.lookups)
		}
	}
	return w
}

// sum adds up the seconds from..to-1 into into, and returns how many
// seconds that was (0 when from >= to).
func (a *appSeries) sum(into *second, from, to int64) int64 {
	*into = second{}
	if from >= to {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for sec := from; sec < to; sec++ {
		b := &a.ring[mod(sec, ringSeconds)]
		if b.sec != sec {
			continue // nothing was recorded in that second
		}
		into.requests += b.requests
		into.errors += b.errors
		into.hits += b.hits
		into.lookups += b.lookups
		into.latency.add(&b.latency)
	}
	return to - from
}
