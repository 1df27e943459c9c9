package balance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// errNoURL is returned for a request without a URL.
var errNoURL = errors.New("request has no url")

// RoundTrip implements http.RoundTripper: it sends req to an eligible
// target, filling in the URL's host (and scheme "http" if empty; "https"
// for a Remote target), retries a failed attempt on another target when
// that is safe, and hedges a request that may be sent twice (see the
// package comment). The response body must be closed: the target counts
// the request as in flight until then. req is not modified.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	return p.roundTrip(req, scope{})
}

// roundTrip is RoundTrip, drawing only the targets in sc.
func (p *Pool) roundTrip(req *http.Request, sc scope) (*http.Response, error) {
	if req.URL == nil {
		return nil, fmt.Errorf("pool %s: %w", p.opts.App, errNoURL)
	}
	p.budget.deposit()
	if p.hedgeable(req) {
		return p.hedged(req, sc)
	}
	var body *replayBody
	if req.Body != nil && req.Body != http.NoBody {
		body = newReplayBody(req.Body)
	}
	var triedBuf [maxAttempts]*target
	tried := triedBuf[:0]
	var lastErr error
	var lastBody *attemptBody
	for {
		now := p.now()
		t := p.next(now, tried, sc)
		if t == nil {
			if lastErr == nil {
				body.close()
				return nil, p.errNoTarget
			}
			body.finish(lastBody)
			return nil, lastErr
		}
		tried = append(tried, t)
		ab := body.attempt(len(tried) - 1)
		resp, uerr, retry := p.attempt(req, t, ab, nil, now, len(tried))
		if uerr == nil {
			body.finish(ab)
			return resp, nil
		}
		lastErr, lastBody = uerr, ab
		if !retry || len(tried) >= p.opts.Retry.Attempts {
			body.finish(ab)
			return nil, lastErr
		}
	}
}

// next acquires the target of a request's next try, never one in tried:
// any try but the first takes a token from the retry budget, and gets no
// target without one.
func (p *Pool) next(now int64, tried []*target, sc scope) *target {
	t := p.acquire(now, tried, sc)
	if t != nil && len(tried) > 0 && !p.budget.withdraw(now) {
		t.release()
		return nil
	}
	return t
}

// acquire picks a target among those in sc and counts a request in
// flight on it; nil when there is no candidate.
func (p *Pool) acquire(now int64, tried []*target, sc scope) *target {
	ts, levels := p.scoped(sc)
	for {
		var t *target
		if levels == nil {
			t = pick(ts, now, tried, rand.Uint64(), p.spill)
		} else {
			t = pickLevels(*levels, now, tried, rand.Uint64(), p.spill)
		}
		if t == nil {
			return nil
		}
		t.inflight.Add(1)
		// Drain sets draining before it reads inflight: either it sees
		// this request or this request sees draining.
		if !t.draining.Load() {
			return t
		}
		t.release()
	}
}

// outRequest is an attempt's shallow copy of the request, in one allocation.
type outRequest struct {
	r http.Request
	u url.URL
}

// attempt sends req to t as try number n, started at start. It returns
// the response, or the failure and whether the request may be retried on
// another target. body is the try's body when the request's body cannot
// be replayed; tr is the try of a hedged request, which another goroutine
// may interrupt: an interrupted try returns neither response nor error,
// and the race accounts for it.
func (p *Pool) attempt(req *http.Request, t *target, body *attemptBody, tr *try, start int64, n int) (*http.Response, *UpstreamError, bool) {
	out := &outRequest{r: *req, u: *req.URL}
	rt := p.address(out, t)
	out.r.GetBody = nil // the transport must not replay the body behind our back
	if body != nil {
		out.r.Body = body
	} else if n > 1 && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			t.release()
			return nil, &UpstreamError{Target: t.ID, Addr: t.Addr, Attempts: n, Err: fmt.Errorf("replay request body: %w", err)}, false
		}
		out.r.Body = b
	}
	var done func(*http.Response, error)
	if p.opts.OnAttempt != nil {
		done = p.opts.OnAttempt(&out.r, Attempt{Target: t.ID, Addr: t.Addr, N: n})
	}
	t.requests.Add(1)
	resp, cancel, err := p.send(rt, out, tr)
	if done != nil {
		done(resp, err)
	}
	if err != nil {
		if tr.lost() {
			t.release()
			return nil, nil, false
		}
		uerr, retry := p.failed(req, t, body, err, n)
		return nil, uerr, retry
	}
	end := p.now()
	t.observeLatency(end - start)
	if resp.StatusCode >= 500 {
		t.failures.Add(1)
		p.observe(t, outcome5xx, end, "response status "+strconv.Itoa(resp.StatusCode))
	} else {
		if p.latency != nil {
			p.latency.observe(end-start, end)
		}
		p.observe(t, outcomeOK, end, "")
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		t.release()
		if cancel != nil {
			cancel()
		}
	} else {
		resp.Body = wrapResponseBody(resp.Body, t, cancel)
	}
	return resp, nil, false
}

// send sends out through rt. A try of a hedged request (tr not nil) can be
// interrupted from another goroutine: on the target's own connections
// through tr's interrupt, on a Transport through a context of its own,
// whose cancel is returned, to be called once the response body is done.
func (p *Pool) send(rt http.RoundTripper, out *outRequest, tr *try) (*http.Response, context.CancelFunc, error) {
	if tr == nil {
		resp, err := rt.RoundTrip(&out.r)
		return resp, nil, err
	}
	if cs, ok := rt.(*conns); ok {
		resp, err := cs.send(&out.r, &tr.intr)
		return resp, nil, err
	}
	ctx, cancel := context.WithCancel(out.r.Context())
	if !tr.intr.watchCancel(cancel) {
		cancel()
		if out.r.Body != nil {
			out.r.Body.Close() // as the transport would have
		}
		return nil, nil, errHedgeLost
	}
	out.r = *out.r.WithContext(ctx) // a copy on the stack: no allocation
	resp, err := rt.RoundTrip(&out.r)
	if err == nil && !tr.intr.settle() {
		resp.Body.Close()
		err = errHedgeLost
	}
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

// failed accounts for an attempt on t that failed with err.
func (p *Pool) failed(req *http.Request, t *target, body *attemptBody, err error, n int) (*UpstreamError, bool) {
	t.release()
	uerr := &UpstreamError{Target: t.ID, Addr: t.Addr, Attempts: n, Err: err}
	if cerr := req.Context().Err(); cerr != nil {
		// The client went away or its deadline passed: not t's fault.
		if !errors.Is(err, cerr) {
			uerr.Err = fmt.Errorf("%w: %w", cerr, err)
		}
		return uerr, false
	}
	if body != nil && body.b.clientErr() != nil {
		return uerr, false // reading the client's body failed: not t's fault
	}
	if isLocalResource(err) {
		// This host's shortage, not t's failure; another target would
		// meet it too.
		p.local.record(p.log, p.now(), "request", t.ID, err)
		uerr.Err = fmt.Errorf("%w: %w", ErrLocalResources, err)
		return uerr, false
	}
	t.failures.Add(1)
	var ne net.Error
	uerr.Timeout = errors.As(err, &ne) && ne.Timeout()
	p.observe(t, outcomeError, p.now(), err.Error())
	unread := body == nil || !body.b.read.Load()
	return uerr, unread && (isDialError(err) || (!uerr.Timeout && idempotent(req)))
}

// isDialError reports whether err says no connection could be made, so
// nothing was sent.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// idempotent reports whether RFC 9110 lets req be sent twice, or its
// Idempotency-Key header says it may be.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

// observe feeds an attempt's outcome to t's passive health; why describes a
// failure.
func (p *Pool) observe(t *target, o outcome, now int64, why string) {
	if o == outcomeOK && !t.suspect.Load() {
		return // the request path's common case: nothing to update
	}
	t.mu.Lock()
	if why != "" {
		t.lastErr = why
	}
	until, ejected := t.outlier.observe(o, now)
	t.suspect.Store(t.outlier.suspect())
	if ejected {
		t.ejectedUntil.Store(until)
	}
	t.mu.Unlock()
	if ejected {
		p.log.Warn("target ejected", "target", t.ID, "addr", t.Addr, "for", time.Duration(until-now), "last_error", why)
		t.poke()
	}
}
