package balance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var _ http.RoundTripper = (*Pool)(nil)

// Pool balances requests over the targets of one app. It is safe for
// concurrent use. Create it with NewPool and run it with Run; without Run no
// health check runs and, unless checks are disabled, no target becomes
// eligible.
type Pool struct {
	opts        Options // with defaults
	transport   http.RoundTripper
	ownTrans    *http.Transport // transport when the pool created it; nil otherwise
	checks      *http.Transport
	log         *slog.Logger
	budget      *budget
	latency     *latencies // recent tries' latencies; nil when hedging is disabled
	races       sync.Pool  // of *race, for hedged requests
	local       localErrors
	hedges      atomic.Uint64
	hedgeWins   atomic.Uint64
	spill       int64     // Options.SpillInFlight
	epoch       time.Time // zero of the pool clock
	errNoTarget error

	targets atomic.Pointer[[]*target] // sorted by ID; replaced, never modified
	own     atomic.Pointer[[]*target] // the targets that are not Remote, likewise
	// levels and ownLevels group targets and own by Priority, lowest
	// first; nil while every target has priority 0, as for an app's
	// instances, so that their requests pay nothing for priorities.
	levels    atomic.Pointer[[][]*target]
	ownLevels atomic.Pointer[[][]*target]
	// sites groups the targets by site (Target.Site, or the pool's own
	// site for ""), for SiteTransport; replaced, never modified.
	sites atomic.Pointer[map[string]*targetGroup]

	mu      sync.Mutex // guards the fields below and target.stop
	byID    map[string]*target
	runCtx  context.Context // derived by Run; nil before Run
	stopped bool            // Run is returning: start no watcher
	wg      sync.WaitGroup  // watchers
}

// NewPool validates opts and returns a pool with no targets. It starts nothing.
func NewPool(opts Options) (*Pool, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new pool: %w", err)
	}
	p := &Pool{
		opts:        o,
		transport:   o.Transport,
		checks:      newHealthTransport(o),
		log:         o.Logger.With("app", o.App),
		epoch:       time.Now(),
		errNoTarget: fmt.Errorf("pool %s: %w", o.App, ErrNoTarget),
		spill:       int64(o.SpillInFlight),
		byID:        make(map[string]*target),
	}
	if p.transport == nil {
		p.ownTrans = newTransport(o)
		p.transport = p.ownTrans
	}
	p.budget = newBudget(o.Retry.Ratio, o.Retry.MinPerSecond, p.now())
	if !o.Retry.Hedge.Disabled && o.Retry.Attempts > 1 {
		p.latency = newLatencies(o.Retry.Hedge, p.now())
		p.races.New = func() any { return p.newRace() }
	}
	p.targets.Store(new([]*target))
	p.own.Store(new([]*target))
	p.sites.Store(new(map[string]*targetGroup))
	return p, nil
}

// now reads the pool clock: monotonic nanoseconds since NewPool.
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }

// Run runs health checks on every target, present and added later, until
// ctx ends, then returns nil once every goroutine it started has exited.
// Run may be called once.
func (p *Pool) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	if p.runCtx != nil {
		p.mu.Unlock()
		return fmt.Errorf("run pool %s: already run", p.opts.App)
	}
	p.runCtx = ctx
	for _, t := range p.byID {
		p.startWatcherLocked(t)
	}
	p.mu.Unlock()

	<-ctx.Done()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
	p.checks.CloseIdleConnections()
	if p.ownTrans != nil {
		p.ownTrans.CloseIdleConnections()
	}
	for _, t := range *p.targets.Load() {
		if t.conns != nil {
			t.conns.close()
		}
	}
	return nil
}

func (p *Pool) startWatcherLocked(t *target) {
	if p.runCtx == nil || p.stopped {
		return
	}
	ctx, cancel := context.WithCancel(p.runCtx)
	t.stop = cancel
	p.wg.Go(func() { p.watch(ctx, t) })
}

// Add adds a target. It is not eligible until Rise consecutive health
// checks passed (at once if checks are disabled).
func (p *Pool) Add(tg Target) error {
	if tg.URL != nil && tg.Addr == "" {
		tg.Addr = tg.URL.Host
	}
	if err := p.checkTarget(tg); err != nil {
		return fmt.Errorf("add target %q to %s: %w", tg.ID, p.opts.App, err)
	}
	t := &target{
		Target:   tg,
		local:    tg.Zone == "" || p.opts.Zone == "" || tg.Zone == p.opts.Zone,
		checkURL: "http://" + tg.Addr + p.opts.Health.Path,
		wake:     make(chan struct{}, 1),
		health:   newHealthState(p.opts.Health.Rise, p.opts.Health.Fall),
		outlier:  newOutlier(p.opts.Passive),
	}
	if u := tg.URL; u != nil {
		t.base = &url.URL{Scheme: u.Scheme, Host: u.Host}
		t.checkURL = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/") + p.opts.Health.Path
	}
	t.weight.Store(int64(max(tg.Weight, 1)))
	if !tg.Remote && p.ownTrans != nil && tg.Transport == nil && (tg.URL == nil || tg.URL.Scheme == "http") {
		// The targets' own connections dial as the pool's Transport does.
		t.conns = newConns(tg.Addr, p.ownTrans.DialContext, max(p.opts.UpstreamTimeout, 0))
	}
	if !p.checked(t) || tg.Healthy {
		t.health.markHealthy()
		t.healthy.Store(true)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byID[tg.ID]; ok {
		return fmt.Errorf("add target %s to %s: %w", tg.ID, p.opts.App, ErrTargetExists)
	}
	p.byID[tg.ID] = t
	p.publishLocked()
	p.startWatcherLocked(t)
	return nil
}

// checkTarget says what is wrong with a target Add was given, if
// anything.
func (p *Pool) checkTarget(tg Target) error {
	switch {
	case tg.ID == "" || tg.Addr == "":
		return errors.New("id and addr must not be empty")
	case tg.Weight < 0 || tg.Weight > maxWeight:
		return fmt.Errorf("weight %d: must be between 0 and %d", tg.Weight, maxWeight)
	case tg.Priority < 0:
		return fmt.Errorf("priority %d: must not be negative", tg.Priority)
	case tg.Remote && p.opts.RemoteTransport == nil:
		return errors.New("remote target without a remote transport in the pool's options")
	}
	if u := tg.URL; u != nil {
		switch {
		case tg.Remote:
			return errors.New("a URL target cannot be remote")
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("url %s: scheme must be http or https", u.Redacted())
		case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
			return fmt.Errorf("url %s: must be scheme://host[:port][/path], without user, query or fragment", u.Redacted())
		}
	}
	return nil
}

// Remove removes a target at once; requests in flight to it go on. Drain
// it first to wait for them.
func (p *Pool) Remove(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.byID[id]
	if !ok {
		return fmt.Errorf("remove target %s from %s: %w", id, p.opts.App, ErrUnknownTarget)
	}
	delete(p.byID, id)
	p.publishLocked()
	if t.stop != nil {
		t.stop()
	}
	if t.conns != nil {
		t.conns.close()
	}
	return nil
}

// publishLocked replaces the snapshots RoundTrip and LocalTransport select
// from.
func (p *Pool) publishLocked() {
	ts := make([]*target, 0, len(p.byID))
	for _, t := range p.byID {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *target) int { return cmp.Compare(a.ID, b.ID) })
	own := slices.DeleteFunc(slices.Clone(ts), func(t *target) bool { return t.Remote })
	p.targets.Store(&ts)
	p.own.Store(&own)
	p.levels.Store(byPriority(ts))
	p.ownLevels.Store(byPriority(own))
	p.sites.Store(p.groupBySite(ts))
}

func (p *Pool) lookup(op, id string) (*target, error) {
	p.mu.Lock()
	t, ok := p.byID[id]
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s target %s of %s: %w", op, id, p.opts.App, ErrUnknownTarget)
	}
	return t, nil
}

// Reset tells the pool that the process behind a target restarted: its
// health starts over (it is not eligible until health rises again) and so
// does its passive-health history. A draining target stays draining.
func (p *Pool) Reset(id string) error {
	t, err := p.lookup("reset", id)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.gen++
	t.health.reset()
	if !p.checked(t) {
		t.health.markHealthy()
	}
	t.healthy.Store(t.health.state == StateHealthy)
	t.outlier = newOutlier(p.opts.Passive)
	t.suspect.Store(false)
	t.ejectedUntil.Store(0)
	t.mu.Unlock()
	t.poke()
	return nil
}

// Drain stops new requests to a target, for good, and waits until the
// requests in flight to it finished (their response bodies closed; an
// upgraded connection counts until it closes) or ctx ends.
func (p *Pool) Drain(ctx context.Context, id string) error {
	t, err := p.lookup("drain", id)
	if err != nil {
		return err
	}
	t.draining.Store(true)
	t.poke()
	t.mu.Lock()
	if t.drained == nil {
		t.drained = make(chan struct{})
	}
	drained := t.drained
	t.mu.Unlock()
	// Checked after drained exists: a release that reaches 0 from now on
	// closes it.
	if t.inflight.Load() == 0 {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain target %s of %s: %d in flight: %w", id, p.opts.App, t.inflight.Load(), ctx.Err())
	}
}

// Targets returns the status of every target, sorted by ID.
func (p *Pool) Targets() []TargetStatus {
	ts := *p.targets.Load()
	out := make([]TargetStatus, len(ts))
	for i, t := range ts {
		out[i] = p.status(t)
	}
	return out
}

// TargetAt returns the ID of the target at addr, "" if none is; it takes
// no lock (the edge names the instance that answered in its access log).
func (p *Pool) TargetAt(addr string) string {
	for _, t := range *p.targets.Load() {
		if t.Addr == addr {
			return t.ID
		}
	}
	return ""
}

// Target returns the status of one target.
func (p *Pool) Target(id string) (TargetStatus, error) {
	t, err := p.lookup("get", id)
	if err != nil {
		return TargetStatus{}, err
	}
	return p.status(t), nil
}

func (p *Pool) status(t *target) TargetStatus {
	now := p.now()
	s := TargetStatus{
		ID:       t.ID,
		Addr:     t.Addr,
		Zone:     t.Zone,
		Site:     t.Site,
		Priority: t.Priority,
		Remote:   t.Remote,
		Weight:   int(t.weight.Load()),
		InFlight: t.inflight.Load(),
		Requests: t.requests.Load(),
		Failures: t.failures.Load(),
		Latency:  time.Duration(math.Float64frombits(t.latency.Load())),
	}
	if t.base != nil {
		s.URL = t.base.String()
	}
	if until := t.ejectedUntil.Load(); until > now {
		s.EjectedUntil = p.epoch.Add(time.Duration(until))
	}
	t.mu.Lock()
	s.State = t.stateLocked(now)
	s.LastCheck = t.lastCheck
	s.LastError = t.lastErr
	t.mu.Unlock()
	return s
}
