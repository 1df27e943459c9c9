package uptime

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Bounds of the alert queues.
const (
	// queueSize is how many notices wait per notifier; more are dropped.
	queueSize = 64
	// drainTimeout bounds how long queued notices may still be sent
	// after Run's context ends.
	drainTimeout = 5 * time.Second
)

// Options configure a Monitor.
type Options struct {
	// Node is this node's name in the verdicts; required.
	Node string
	// Checks are run in this order; their names are unique.
	Checks []Check
	// Renotify repeats the alert of a check still down; 0 never.
	Renotify time.Duration
	// Verdicts is where the nodes' verdicts meet; nil means a
	// MemoryVerdicts of this node alone.
	Verdicts Verdicts
	// Leader says whether this node sends the alerts; nil means it does.
	Leader Leader
	// Notifiers deliver the alerts; none means they are only logged.
	Notifiers []Notifier
	// Transport sends the probes; nil means a transport that opens a new
	// connection per probe.
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives state changes and delivery failures; nil discards.
	Logger *slog.Logger
}

// Monitor runs the uptime checks of one node: it probes each check on
// its interval, publishes this node's verdicts, decides each check's state
// with an Evaluator and, on the leader, sends the alerts. Create it with
// New, run it with Run, read it with Status.
type Monitor struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	checks  []*check
	senders []*sender
}

// check is one Check with its live state.
type check struct {
	Check
	offset time.Duration // of the first probe, spreading nodes and checks over the interval

	mu      sync.Mutex // guards the fields below
	tracker Tracker
	eval    *Evaluator
	hist    history
	nodes   []Verdict // the check's verdicts at the last evaluation
}

// sender delivers the notices queued for one notifier.
type sender struct {
	n     Notifier
	queue chan Notice
}

// New checks opts. It starts nothing.
func New(opts Options) (*Monitor, error) {
	if opts.Node == "" {
		return nil, errors.New("new uptime monitor: no node name")
	}
	if opts.Verdicts == nil {
		opts.Verdicts = new(MemoryVerdicts)
	}
	if opts.Leader == nil {
		opts.Leader = AlwaysLeader{}
	}
	m := &Monitor{opts: opts, log: opts.Logger, now: opts.Now, client: newClient(opts.Transport)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	seen := make(map[string]bool)
	for _, c := range opts.Checks {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("new uptime monitor: %w", err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("new uptime monitor: check %s given twice", c.Name)
		}
		seen[c.Name] = true
		m.checks = append(m.checks, &check{
			Check:   c,
			offset:  jitter(opts.Node, c.Name, c.Interval),
			tracker: Tracker{Rise: c.Rise, Fall: c.Fall},
			eval:    NewEvaluator(c.Name, c.Interval, opts.Renotify),
		})
	}
	for _, n := range opts.Notifiers {
		m.senders = append(m.senders, &sender{n: n, queue: make(chan Notice, queueSize)})
	}
	return m, nil
}

// jitter is where in the interval a node probes a check first: spread
// over the interval by node and check, and the same after a restart.
func jitter(node, check string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(node + "\x00" + check))
	return time.Duration(h.Sum64() % uint64(interval))
}

// Run probes the checks until ctx ends. Notices still queued then are
// sent for at most a few more seconds.
func (m *Monitor) Run(ctx context.Context) error {
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	var senders sync.WaitGroup
	for _, s := range m.senders {
		senders.Go(func() { m.send(sendCtx, s) })
	}
	var checks sync.WaitGroup
	for _, c := range m.checks {
		checks.Go(func() { m.runCheck(ctx, c) })
	}
	checks.Wait()
	for _, s := range m.senders {
		close(s.queue)
	}
	t := time.AfterFunc(drainTimeout, stopSending)
	defer t.Stop()
	senders.Wait()
	return nil
}

// runCheck probes c on its interval, from its offset, until ctx ends.
func (m *Monitor) runCheck(ctx context.Context, c *check) {
	t := time.NewTimer(c.offset)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	for {
		m.round(ctx, c)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// round probes c once, publishes this node's verdict, evaluates the
// check and sends the alerts it raises.
func (m *Monitor) round(ctx context.Context, c *check) {
	p := c.probe(ctx, m.client, m.now)
	if ctx.Err() != nil {
		return // stopping: the probe was cut short, not failed
	}
	c.mu.Lock()
	c.hist.add(p)
	v := Verdict{Check: c.Name, Node: m.opts.Node, State: c.tracker.Observe(p.OK), At: m.now(), Error: p.Error}
	c.mu.Unlock()

	if err := m.opts.Verdicts.Publish(ctx, v); err != nil {
		m.log.Warn("uptime verdict not published", "check", c.Name, "err", err)
	}
	all, err := m.opts.Verdicts.All(ctx)
	if err != nil {
		m.log.Warn("uptime verdicts not read; check not evaluated", "check", c.Name, "err", err)
		return
	}
	var mine []Verdict
	for _, v := range all {
		if v.Check == c.Name {
			mine = append(mine, v)
		}
	}
	c.mu.Lock()
	actions := c.eval.Step(m.now(), mine)
	c.nodes = mine
	c.mu.Unlock()
	for _, a := range actions {
		m.act(c, a)
	}
}

// act logs an action and, on the leader, queues its notice.
func (m *Monitor) act(c *check, a Action) {
	n := noticeOf(a, c.URL)
	switch {
	case n.State == Down:
		m.log.Warn("uptime check down", "check", c.Name, "message", n.Message)
	default:
		m.log.Info("uptime check up", "check", c.Name, "message", n.Message)
	}
	if !m.opts.Leader.Leader() {
		return
	}
	for _, s := range m.senders {
		select {
		case s.queue <- n:
		default:
			m.log.Error("uptime alert dropped: too many waiting", "check", c.Name, "state", n.State.String())
		}
	}
}

// send delivers the notices queued for s until its queue is closed.
func (m *Monitor) send(ctx context.Context, s *sender) {
	for n := range s.queue {
		if err := s.n.Notify(ctx, n); err != nil {
			m.log.Error("uptime alert not delivered", "check", n.Check, "state", n.State.String(), "err", err)
		}
	}
}
