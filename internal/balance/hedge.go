package balance

import (
	"net/http"
	"sync"
	"time"
)

// hedgeable reports whether req may be hedged: hedging is on, the request
// may be sent twice (as conns judges it: GET, HEAD, OPTIONS, TRACE, or
// marked with an idempotency key), its body can be sent again (none, or
// one GetBody makes anew, as for a buffered body) and it asks for no
// upgrade, whose connection could not be raced.
func (p *Pool) hedgeable(req *http.Request) bool {
	return p.latency != nil && replayable(req) &&
		(req.Body == nil || req.Body == http.NoBody || req.GetBody != nil) &&
		req.Header["Upgrade"] == nil && req.Method != http.MethodConnect
}

// try is one try of a hedged request.
type try struct {
	t     *target
	start int64 // pool clock
	hedge bool  // started by the per-try timeout, not by the request or a retry
	ended bool
	intr  interrupt
}

// lost reports whether tr is a try that was interrupted because another
// try answered first; false for nil, a try that cannot be interrupted.
func (tr *try) lost() bool { return tr != nil && tr.intr.fired() }

// race runs the tries of one hedged request. The caller's goroutine makes
// the first try itself, as for any request, and retries it as any request
// is retried. Each try that starts arms the per-try timeout; when it fires
// and no try has answered yet, a timer goroutine makes another try on a
// target not tried yet, within Retry.Attempts and the retry budget: one
// hedged try per request, as in "The Tail at Scale", so that a request that
// is slow everywhere (a report, an export) costs twice its work, not
// Attempts times. The first response wins, whatever its status; the other
// tries are interrupted, and the caller waits for them to end before it
// returns, so that no goroutine of the request outlives it. A try interrupted after it
// ran the per-try timeout, and that started before the winner, counts as a
// failure of its target for passive health: a hung target is soon ejected.
//
// Races are reused through Pool.races and each keeps its timer: a request
// answered within the per-try timeout allocates nothing for hedging.
type race struct {
	p     *Pool
	timer *time.Timer    // calls fire; armed at most once at a time
	wg    sync.WaitGroup // the timer while armed, and the goroutine fire runs in
	wake  chan struct{}  // capacity 1: a worker ended, or a try answered

	mu      sync.Mutex // guards the fields below and the tries but their interrupts
	req     *http.Request
	scope   scope
	perTry  time.Duration
	tries   [maxAttempts]try
	tried   [maxAttempts]*target // tries[i].t, as pick wants them
	n       int                  // tries started
	running int                  // workers (the caller, fire) making or about to make a try
	winner  *http.Response
	won     int            // index of the winning try
	lastErr *UpstreamError // the failure of the try that ended last
	hedged  bool           // a hedged try was made: the timer is not armed again
	closed  bool           // the caller is returning: no new try
}

func (p *Pool) newRace() *race {
	r := &race{p: p, wake: make(chan struct{}, 1)}
	r.timer = time.AfterFunc(time.Hour, r.fire)
	r.timer.Stop()
	return r
}

// hedged sends a hedgeable request (see race).
func (p *Pool) hedged(req *http.Request, sc scope) (*http.Response, error) {
	r := p.races.Get().(*race)
	r.req, r.scope = req, sc
	r.work(false)
	resp, err := r.wait()
	r.reset()
	p.races.Put(r)
	return resp, err
}

// armLocked starts the per-try timeout, or starts it over.
func (r *race) armLocked() {
	r.wg.Add(1)
	if r.timer.Reset(r.perTry) {
		r.wg.Done() // it was armed: that arming is replaced
	}
}

// fire runs when the per-try timeout passed: it hedges.
func (r *race) fire() {
	defer r.wg.Done()
	r.work(true)
}

// work makes tries until one answers, one fails in a way that must not be
// retried, or no target, budget or attempt is left. With hedge, its first
// try is a hedge: made only while another worker's try runs unanswered.
func (r *race) work(hedge bool) {
	r.mu.Lock()
	if r.closed || r.winner != nil || (hedge && r.running == 0) {
		r.mu.Unlock()
		return
	}
	r.running++
	for {
		i, ok := r.startLocked(hedge)
		if !ok {
			r.running--
			r.mu.Unlock()
			r.signal()
			return
		}
		r.mu.Unlock()
		tr := &r.tries[i] // startLocked set it; only its interrupt changes while it runs
		resp, uerr, retry := r.p.attempt(r.req, tr.t, nil, tr, tr.start, i+1)
		if !r.end(i, resp, uerr, retry) {
			return
		}
		r.mu.Lock()
		hedge = false // a retry of a failed try, hedge or not
	}
}

// startLocked starts the next try, if a target, a token of the retry
// budget and an attempt are left, and returns its index.
func (r *race) startLocked(hedge bool) (int, bool) {
	p := r.p
	if r.closed || r.winner != nil || r.n >= p.opts.Retry.Attempts {
		return 0, false
	}
	now := p.now()
	t := p.next(now, r.tried[:r.n], r.scope)
	if t == nil {
		return 0, false
	}
	i := r.n
	if i == 0 {
		r.perTry = p.latency.perTry(now)
	}
	r.n++
	r.tries[i] = try{t: t, start: now, hedge: hedge}
	r.tried[i] = t
	if hedge {
		r.hedged = true
		p.hedges.Add(1)
	}
	if r.n < p.opts.Retry.Attempts && !r.hedged {
		r.armLocked()
	}
	return i, true
}

// end records the end of try i, with its response or failure (neither if
// it was interrupted), and reports whether its worker goes on to retry.
// The first response wins and interrupts the tries still running; a later
// one is closed.
func (r *race) end(i int, resp *http.Response, uerr *UpstreamError, retry bool) bool {
	var stop [maxAttempts]*interrupt
	r.mu.Lock()
	tr := &r.tries[i]
	tr.ended = true
	switch {
	case resp != nil && r.winner == nil && !r.closed:
		r.winner, r.won = resp, i
		if tr.hedge {
			r.p.hedgeWins.Add(1)
		}
		for j := range r.n {
			if !r.tries[j].ended {
				stop[j] = &r.tries[j].intr
			}
		}
		resp = nil
	case resp != nil:
		// Another try answered first, after this one's header came.
	case uerr == nil:
		r.lostLocked(tr)
	default:
		r.lastErr = uerr
	}
	more := uerr != nil && retry && r.winner == nil && !r.closed
	if !more {
		r.running--
	}
	r.mu.Unlock()
	r.signal()
	for _, intr := range stop {
		if intr != nil {
			intr.fire()
		}
	}
	if resp != nil {
		resp.Body.Close() // releases its target
	}
	return more
}

// signal wakes wait.
func (r *race) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// lostLocked accounts for tr, interrupted because another try answered:
// if tr started before the winner and ran the per-try timeout, its target
// did not answer in the time another took to, and it counts as a failure.
func (r *race) lostLocked(tr *try) {
	p, now := r.p, r.p.now()
	if tr.start >= r.tries[r.won].start || now-tr.start < int64(r.perTry) {
		return
	}
	tr.t.failures.Add(1)
	p.observe(tr.t, outcomeError, now, "no response within the per-try timeout of "+r.perTry.String()+" while another target answered")
}

// wait waits until a try answered or every try ended, stops the tries and
// the timer, and returns the answer or the last failure.
func (r *race) wait() (*http.Response, error) {
	r.mu.Lock()
	for r.winner == nil && r.running > 0 {
		r.mu.Unlock()
		<-r.wake
		r.mu.Lock()
	}
	r.closed = true
	resp, uerr, n := r.winner, r.lastErr, r.n
	r.mu.Unlock()
	if r.timer.Stop() {
		r.wg.Done()
	}
	r.wg.Wait()
	switch {
	case resp != nil:
		return resp, nil
	case uerr != nil:
		return nil, uerr
	}
	if n == 0 && r.req.Body != nil {
		r.req.Body.Close() // no try took it
	}
	return nil, r.p.errNoTarget
}

// reset readies r for another request; nothing of r's runs any more.
func (r *race) reset() {
	r.req, r.winner, r.lastErr = nil, nil, nil
	clear(r.tries[:r.n])
	clear(r.tried[:r.n])
	r.n, r.running, r.won, r.hedged, r.closed = 0, 0, 0, false, false
	select {
	case <-r.wake:
	default:
	}
}

// Stats are counters of a pool, for metrics.
type Stats struct {
	Hedges      uint64 // tries made because no try answered within the per-try timeout
	HedgeWins   uint64 // hedged tries whose response was used
	LocalErrors uint64 // tries and health checks failed for lack of this host's resources
	// PerTryTimeout is the current per-try timeout of hedged requests; 0
	// when hedging is disabled.
	PerTryTimeout time.Duration
}

// Stats returns the pool's counters since NewPool.
func (p *Pool) Stats() Stats {
	s := Stats{Hedges: p.hedges.Load(), HedgeWins: p.hedgeWins.Load(), LocalErrors: p.local.count.Load()}
	if p.latency != nil {
		s.PerTryTimeout = p.latency.perTry(p.now())
	}
	return s
}
