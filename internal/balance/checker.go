package balance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// maxCheckBody is how much of a health check's response body is read, so
// that the connection closes cleanly without reading a huge body.
const maxCheckBody = 64 << 10

// watch is the driver around one target's state machines: it runs active
// health checks every jittered Interval, wakes when an ejection ends, and
// reports every change of the target's State; it also closes the target's
// connections that were idle too long. It returns when ctx ends.
func (p *Pool) watch(ctx context.Context, t *target) {
	var checkC <-chan time.Time
	check := time.NewTimer(0) // the first check at once: callers wait for readiness
	defer check.Stop()
	if p.checked(t) {
		checkC = check.C
	}
	ejectEnd := time.NewTimer(time.Hour)
	ejectEnd.Stop()
	defer ejectEnd.Stop()
	var sweepC <-chan time.Time
	if t.conns != nil {
		sweep := time.NewTicker(connIdleTimeout / 4)
		defer sweep.Stop()
		sweepC = sweep.C
	}
	last := t.state(p.now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkC:
			p.check(ctx, t)
			check.Reset(jittered(p.opts.Health.Interval))
		case <-t.wake:
		case <-ejectEnd.C:
		case now := <-sweepC:
			t.conns.sweep(now)
			continue
		}
		now := p.now()
		if until := t.ejectedUntil.Load(); until > now {
			ejectEnd.Reset(time.Duration(until - now))
		}
		if s := t.state(now); s != last {
			p.report(t, last, s)
			last = s
		}
	}
}

// jittered returns d ± 10%, so that the checks of many targets spread out.
func jittered(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// check runs one health check and feeds its result to t's health state.
func (p *Pool) check(ctx context.Context, t *target) {
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	err := p.probe(ctx, t)
	if ctx.Err() != nil {
		return // stopping: not the target's fault
	}
	if isLocalResource(err) {
		// This host could not check: the check tells nothing of t.
		p.local.record(p.log, p.now(), "health check", t.ID, err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen != gen {
		return // reset while checking: the result is about the old process
	}
	t.lastCheck = time.Now()
	if err != nil {
		t.lastErr = err.Error()
	}
	t.health.observe(err == nil)
	t.healthy.Store(t.health.state == StateHealthy)
}

// probe GETs the health path of t and reports why it failed, if it did.
func (p *Pool) probe(ctx context.Context, t *target) error {
	h := p.opts.Health
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.checkURL, nil)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	switch {
	case t.Host != "":
		req.Host = t.Host
	case h.Host != "" && t.URL == nil:
		req.Host = h.Host
	}
	req.Header.Set("User-Agent", "tandem-health-check")
	rt := http.RoundTripper(p.checks)
	if t.Transport != nil {
		rt = t.Transport
	}
	resp, err := rt.RoundTrip(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("health check: no answer within %s: %w", h.Timeout, err)
	}
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	// The body's content does not matter; reading some of it only lets
	// the target finish writing.
	_, _ = io.CopyN(io.Discard, resp.Body, maxCheckBody)
	_ = resp.Body.Close() // keep-alive is off: nothing to reuse or report
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("health check: status %d", resp.StatusCode)
	}
	return nil
}

// report logs a state change and passes it to OnHealthChange.
func (p *Pool) report(t *target, from, to State) {
	st := p.status(t)
	st.State = to // what changed, even if it changed again since
	if to == StateHealthy {
		p.log.Info("target state changed", "target", t.ID, "addr", t.Addr, "from", from.String(), "to", to.String())
	} else {
		p.log.Info("target state changed", "target", t.ID, "addr", t.Addr, "from", from.String(), "to", to.String(), "last_error", st.LastError)
	}
	if p.opts.OnHealthChange != nil {
		p.opts.OnHealthChange(st)
	}
}
