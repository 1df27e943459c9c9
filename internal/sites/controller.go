package sites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/pgha"
)

// Cluster is what the controller needs of the control plane;
// *cluster.Cluster implements it.
type Cluster interface {
	SitesState(ctx context.Context) (cluster.SitesState, error)
	PutEmergency(ctx context.Context, value []byte, rev int64) error
	DeleteEmergency(ctx context.Context, rev int64) error
	WatchSites(ctx context.Context) <-chan struct{}
}

var _ Cluster = (*cluster.Cluster)(nil)

// Database is what the controller needs of the database; *pgha.Member
// and *pgha.Follower implement it.
type Database interface {
	Status() pgha.Status
	Switchover(ctx context.Context, to string) error
}

// Effects apply a node's mode: its apps' instances and its routes'
// fallback pages. Apply is called again until it succeeds; it returns
// what it changed, for the audit log.
type Effects interface {
	Apply(ctx context.Context, m Mode) ([]string, error)
}

// Options configure a Controller.
type Options struct {
	Config
	// FailbackAuto and StableFor are Config's AutoFailback and StableFor.
	Cluster Cluster
	// Database is the stack's database; nil without one.
	Database Database
	// Effects apply this node's mode; nil applies nothing.
	Effects Effects
	// OnEvent is told of declarations, ends, failbacks and this node's
	// mode changes; it must not block. nil ignores them.
	OnEvent func(Event)
	// Interval is how often the state is read besides the watch;
	// DefaultInterval if 0.
	Interval time.Duration
	// Logger receives the controller's log; nil discards it.
	Logger *slog.Logger
	// Clock returns the current time; time.Now if nil.
	Clock func() time.Time
}

// DefaultInterval is how often a Controller reads the sites' state.
const DefaultInterval = 500 * time.Millisecond

// readTimeout bounds one read of the sites' state: a read slower than
// that counts as no quorum.
const readTimeout = time.Second

// EventKind says what an Event reports.
type EventKind string

// The kinds of Event.
const (
	// EventDeclared: this node declared an emergency.
	EventDeclared EventKind = "declared"
	// EventEnded: this node ended an emergency.
	EventEnded EventKind = "ended"
	// EventFailback: a failback run here ended (Err says how).
	EventFailback EventKind = "failback"
	// EventMode: this node entered or left emergency mode; Changes says
	// what it did.
	EventMode EventKind = "mode"
)

// Event is something the sites did, for the log, the audit log and
// alerts.
type Event struct {
	Time      time.Time
	Kind      EventKind
	Emergency *pgha.Emergency // the emergency concerned
	Message   string
	Changes   []string // EventMode: what this node changed
	Err       error    // EventFailback: why it failed; nil if it succeeded
}

// Controller runs the sites on one node: it reads the beats and the
// emergency key, steps the Machine and performs its actions. See the
// package comment.
type Controller struct {
	opts Options
	m    *Machine
	log  *slog.Logger
	wake chan struct{} // 1-buffered

	failbackMu sync.Mutex // one failback at a time
	failbacks  sync.WaitGroup

	mu           sync.Mutex // guards the fields below
	last         Observation
	readAt       time.Time
	readErr      string
	mode         Mode
	applied      bool // mode was applied by Effects
	changes      []string
	busy         bool
	lastFailback *FailbackResult
}

// New checks opts and returns a controller that runs nothing yet.
func New(opts Options) (*Controller, error) {
	if opts.Cluster == nil {
		return nil, fmt.Errorf("new sites controller: %w: no cluster", ErrBadConfig)
	}
	m, err := NewMachine(opts.Config)
	if err != nil {
		return nil, err
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	return &Controller{opts: opts, m: m, log: opts.Logger, wake: make(chan struct{}, 1)}, nil
}

// Run reads, decides and acts until ctx ends, and returns once a
// failback it started has ended.
func (c *Controller) Run(ctx context.Context) error {
	defer c.failbacks.Wait()
	changed := c.opts.Cluster.WatchSites(ctx)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		c.cycle(ctx)
		select {
		case <-ctx.Done():
			for range changed { // closed once the watch stopped
			}
			return nil
		case <-t.C:
		case <-changed:
		case <-c.wake:
		}
	}
}

func (c *Controller) wakeUp() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// cycle observes, steps the machine and performs its actions.
func (c *Controller) cycle(ctx context.Context) {
	o := c.observe(ctx)
	for _, a := range c.m.Step(o) {
		c.perform(ctx, o, a)
	}
	c.applyMode(ctx)
}

// observe reads the sites' state and the database's.
func (c *Controller) observe(ctx context.Context) Observation {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	st, err := c.opts.Cluster.SitesState(rctx)
	cancel()
	now := c.opts.Clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.last
	o.Now, o.Fresh, o.Busy = now, err == nil, c.busy
	if err != nil {
		c.readErr = err.Error()
	} else {
		c.readErr, c.readAt = "", now
		o.Known, o.Beats, o.Emergency, o.Rev = st.Known, st.Beats, nil, st.Emergency.Revision
		if st.Emergency.Revision != 0 {
			e := decodeEmergency(st.Emergency.Value, c.opts.LeaderSite, c.log)
			o.Emergency = &e
		}
	}
	if c.opts.Database != nil {
		db := dbState(c.opts.Database.Status())
		o.DB = &db
	}
	c.last = o
	return o
}

// decodeEmergency reads the emergency key's value; one that does not
// decode is taken as declared against the leader site (it was written
// under quorum: something was declared).
func decodeEmergency(value []byte, leaderSite string, log *slog.Logger) pgha.Emergency {
	var e pgha.Emergency
	if err := json.Unmarshal(value, &e); err != nil || e.Site == "" {
		log.Warn("emergency key unreadable; taken as declared against the leader site", "value", string(value), "err", err)
		e = pgha.Emergency{Site: leaderSite, Cause: "unreadable emergency key"}
	}
	return e
}

// dbState is what the machine needs of the database's status.
func dbState(st pgha.Status) DBState {
	db := DBState{Leader: st.Leader}
	for _, m := range st.Members {
		db.Members = append(db.Members, DBMember{Name: m.Name, Site: m.Site, Streaming: m.Streaming, LagBytes: m.LagBytes})
		if m.Name == st.Leader {
			db.LeaderSite, db.LeaderRunning = m.Site, m.Role == pgha.PGPrimary.String()
		}
	}
	return db
}

// perform does one action of the machine.
func (c *Controller) perform(ctx context.Context, o Observation, a Action) {
	switch a.Kind {
	case ActMode:
		c.log.Info("sites mode", "emergency", a.Mode.InEmergency(), "reason", a.Reason)
		c.mu.Lock()
		c.mode, c.applied = a.Mode, false
		c.mu.Unlock()
	case ActDeclare:
		c.declare(ctx, a)
	case ActEnd:
		c.end(ctx, o, a)
	case ActFailback:
		c.startFailback(ctx, a.Reason)
	}
}

// declare writes the emergency key; another node that wrote it first
// wins.
func (c *Controller) declare(ctx context.Context, a Action) {
	val, _ := json.Marshal(a.Emergency)
	err := c.opts.Cluster.PutEmergency(ctx, val, 0)
	switch {
	case errors.Is(err, cluster.ErrConflict):
		c.log.Debug("emergency declared by another node first")
	case err != nil:
		c.log.Warn("emergency not declared", "err", err)
	default:
		c.log.Warn("emergency declared", "site", a.Emergency.Site, "cause", a.Emergency.Cause)
		c.opts.OnEvent(Event{Time: c.opts.Clock(), Kind: EventDeclared, Emergency: a.Emergency,
			Message: fmt.Sprintf("emergency declared: %s", a.Emergency.Cause)})
	}
	c.wakeUp()
}

// end deletes the emergency key.
func (c *Controller) end(ctx context.Context, o Observation, a Action) {
	err := c.opts.Cluster.DeleteEmergency(ctx, a.Rev)
	switch {
	case errors.Is(err, cluster.ErrConflict):
		c.log.Debug("emergency changed meanwhile")
	case err != nil:
		c.log.Warn("emergency not ended", "err", err)
	default:
		c.log.Info("emergency ended", "reason", a.Reason)
		c.opts.OnEvent(Event{Time: c.opts.Clock(), Kind: EventEnded, Emergency: o.Emergency, Message: "emergency ended: " + a.Reason})
	}
	c.wakeUp()
}

// applyMode applies the mode decided, until Effects succeed.
func (c *Controller) applyMode(ctx context.Context) {
	c.mu.Lock()
	mode, applied := c.mode, c.applied
	c.mu.Unlock()
	if applied || !c.m.modeSet {
		return
	}
	var changes []string
	if c.opts.Effects != nil {
		var err error
		if changes, err = c.opts.Effects.Apply(ctx, mode); err != nil {
			c.log.Warn("sites mode not applied yet; trying again", "err", err)
			return
		}
	}
	c.mu.Lock()
	c.applied, c.changes = true, changes
	c.mu.Unlock()
	msg := "normal mode"
	if mode.InEmergency() {
		msg = fmt.Sprintf("emergency mode: site %s declared unreachable", mode.Emergency.Site)
	}
	c.opts.OnEvent(Event{Time: c.opts.Clock(), Kind: EventMode, Emergency: mode.Emergency, Message: msg, Changes: changes})
}
