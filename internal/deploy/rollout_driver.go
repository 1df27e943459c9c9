package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrUnreachable marks an error of [Peers] meaning the node was not
// reached: the request never got there, or the connection failed before
// the node accepted the roll. Nothing changed there, and the rollout goes
// on without it. Any other error counts as the node's roll failing.
var ErrUnreachable = errors.New("node not reached")

// Peers has the other nodes of the cluster roll their own instances. One
// value serves one rollout: it knows the app and who asked. Calls run
// concurrently, at most one per node at a time; each returns promptly
// once ctx ends.
type Peers interface {
	// Deploy has node roll to rel without its release phase (it ran on
	// the coordinator), passing each event of its progress to onEvent,
	// and returns the last one, whose Result says how the roll ended.
	// An error wraps ErrUnreachable if the node was not reached.
	Deploy(ctx context.Context, node Member, rel Release, onEvent func(Event)) (last Event, err error)
	// Rollback has node roll back to its kept release version, as
	// Deploy does.
	Rollback(ctx context.Context, node Member, version string, onEvent func(Event)) (last Event, err error)
}

// EventLog is a deploy's events as watchers read them: those from index
// from on, whether the deploy is over (then evs holds all the rest), and
// a channel closed when there is more to see. [*Driver] is one.
type EventLog interface {
	Events(from int) (evs []Event, done bool, changed <-chan struct{})
}

var _ EventLog = (*Driver)(nil)

// Local starts the coordinator's own deploys, which its owner runs (each
// a [*Driver]); one value serves one rollout, like Peers.
type Local interface {
	// Deploy starts rolling this node to rel, with its release phase
	// if releasePhase. It fails if the deploy cannot start (another is
	// in progress, the release exists); nothing changed then.
	Deploy(rel Release, releasePhase bool) (EventLog, error)
	// Rollback starts rolling this node back to its kept release version.
	Rollback(version string) (EventLog, error)
}

// RolloutOptions configure a RolloutDriver.
type RolloutOptions struct {
	// Kind is KindDeploy or KindRollback.
	Kind string
	// From is the version the coordinator runs now; To the release
	// rolled out (for a rollback, a kept release: only its Version is
	// sent).
	From string
	To   Release
	// Self is the coordinator; Nodes are the other nodes that run the app.
	Self  Member
	Nodes []Member
	// NodeTimeout bounds each roll of another node (RolloutConfig).
	NodeTimeout time.Duration
	Local       Local
	Peers       Peers
	// LockLost is closed when the coordinator loses the cluster-wide
	// deploy lock (in etcd, when its session's lease ends); nil if it
	// cannot be lost.
	LockLost <-chan struct{}
	// Finish, if set, is called once when the rollout is over, before
	// its last event is published: release the lock and record the
	// result there, so that a watcher that sees the end may start
	// another rollout at once.
	Finish func(RolloutOutcome)
	// Logger receives the rollout's steps; nil discards them.
	Logger *slog.Logger
}

// RolloutOutcome is how a rollout ended (see RollFinish).
type RolloutOutcome struct {
	Result    Result
	Version   string // the release the cluster is meant to run now; "" when interrupted
	Message   string
	Unreached []string // nodes not reached; they converge to Version when they return
}

// RolloutDriver runs one Rollout: it performs its actions through Local
// and Peers, feeds back how each node's roll ended, relays every node's
// events marked with its name, and keeps the rollout's events for
// watchers.
type RolloutDriver struct {
	opts    RolloutOptions
	log     *slog.Logger
	m       *Rollout // Start's, then Run's goroutine only
	started bool     // Start ran; Run's goroutine only
	// answers carries the inputs of the calls' goroutines. Each node has
	// at most one call whose answer is not read yet, so with room for
	// every node a send never blocks.
	answers  chan RolloutInput
	launches []launch                      // calls to start; Start's, then Run's goroutine only
	cancels  map[string]context.CancelFunc // the calls in flight; Run's goroutine only
	outcome  RolloutOutcome                // set by RollFinish

	mu      sync.Mutex // guards the fields below
	events  []Event
	changed chan struct{} // closed and replaced when events grow or the rollout ends
	done    bool
	prog    RolloutProgress
}

// launch is a call the driver has to start: it ends with node's answer.
type launch struct {
	node string
	call func(ctx context.Context) RolloutInput
}

// NewRolloutDriver checks opts and returns a driver that has not started.
func NewRolloutDriver(opts RolloutOptions) (*RolloutDriver, error) {
	m, err := NewRollout(RolloutConfig{Kind: opts.Kind, From: opts.From, To: opts.To.Version, Self: opts.Self, Nodes: opts.Nodes, NodeTimeout: opts.NodeTimeout})
	if err != nil {
		return nil, fmt.Errorf("new rollout: %w", err)
	}
	if opts.Local == nil || opts.Peers == nil {
		return nil, errors.New("new rollout: no local deploy or no peers")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RolloutDriver{
		opts:    opts,
		log:     log,
		m:       m,
		answers: make(chan RolloutInput, len(opts.Nodes)+1),
		cancels: make(map[string]context.CancelFunc),
		changed: make(chan struct{}),
		prog:    m.Progress(),
	}, nil
}

// Start publishes the plan and starts the coordinator's own deploy, so
// that the caller learns at once if it cannot start (another deploy is in
// progress, the release exists): then Start returns that error, nothing
// changed, and Run need not be called (it would end the rollout failed).
// Start starts no goroutine; Run calls it if it was not.
func (d *RolloutDriver) Start() error {
	if d.started {
		return nil
	}
	d.started = true
	return d.perform(d.m.Start(time.Now()))
}

// Events returns the rollout's events from index from on, whether it is
// over, and a channel closed when there is more to see.
func (d *RolloutDriver) Events(from int) (evs []Event, done bool, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if from < len(d.events) {
		evs = append(evs, d.events[from:]...)
	}
	return evs, d.done, d.changed
}

var _ EventLog = (*RolloutDriver)(nil)

// Progress returns a snapshot of the rollout.
func (d *RolloutDriver) Progress() RolloutProgress {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prog
}

// Run runs the rollout until it is over and returns how it ended. ctx is
// the node's lifetime, not a request's: when it ends (tandem stops), or
// when LockLost is closed, the rollout starts nothing more and ends,
// interrupted, once the calls in flight have (ending ctx cancels them).
// Every goroutine it starts has exited when it returns. Run may be
// called from another goroutine than Start, after it.
func (d *RolloutDriver) Run(ctx context.Context) RolloutOutcome {
	var wg sync.WaitGroup
	_ = d.Start() // an error is the coordinator's answer too: the rollout ends failed
	d.launch(ctx, &wg)
	stop, lost := ctx.Done(), d.opts.LockLost
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !d.m.Done() {
		var timerC <-chan time.Time
		if dl, ok := d.m.NextDeadline(); ok {
			timer.Reset(time.Until(dl))
			timerC = timer.C
		}
		var in RolloutInput
		select {
		case <-stop:
			in, stop = RolloutInput{Kind: Stopping}, nil
		case <-lost:
			in, lost = RolloutInput{Kind: LockLost}, nil
		case in = <-d.answers:
		case <-timerC:
			in = RolloutInput{Kind: RolloutTick}
		}
		d.perform(d.m.Step(time.Now(), in))
		d.launch(ctx, &wg)
	}
	for _, cancel := range d.cancels {
		cancel() // only calls given up on are left
	}
	wg.Wait()
	if d.opts.Finish != nil {
		d.opts.Finish(d.outcome)
	}
	d.emit(Event{Step: StepDone, Version: d.outcome.Version, Result: d.outcome.Result, Message: d.outcome.Message})
	d.mu.Lock()
	d.done = true
	d.notifyLocked()
	d.mu.Unlock()
	return d.outcome
}

// perform carries out actions. Rolls of the coordinator start here, and
// their error is returned; the calls that wait are queued for launch.
func (d *RolloutDriver) perform(acts []RolloutAction) error {
	var startErr error
	for _, a := range acts {
		switch a.Kind {
		case RollForward, RollBack:
			if a.Node == d.opts.Self.Name {
				if err := d.startSelf(a); err != nil {
					startErr = err
				}
				continue
			}
			d.queueCall(a)
		case RollCancel:
			if cancel := d.cancels[a.Node]; cancel != nil {
				cancel()
			}
		case RollReport:
			d.log.Info("rollout step", "step", a.Step, "node", a.Node, "message", a.Message)
			d.emit(Event{Step: a.Step, Node: a.Node, Version: a.Version, Message: a.Message})
		case RollFinish:
			d.outcome = RolloutOutcome{Result: a.Result, Version: a.Version, Message: a.Message, Unreached: a.Unreached}
			level := slog.LevelInfo
			if a.Result != ResultSucceeded {
				level = slog.LevelWarn
			}
			d.log.Log(context.Background(), level, "rollout finished", "result", string(a.Result), "message", a.Message)
		}
	}
	p := d.m.Progress()
	d.mu.Lock()
	d.prog = p
	d.mu.Unlock()
	return startErr
}

// startSelf starts the coordinator's own roll and queues following it;
// if it cannot start, that is its answer.
func (d *RolloutDriver) startSelf(a RolloutAction) error {
	var log EventLog
	var err error
	switch {
	case a.Kind == RollForward && d.opts.Kind == KindDeploy:
		log, err = d.opts.Local.Deploy(d.opts.To, a.ReleasePhase)
	default:
		log, err = d.opts.Local.Rollback(a.Version)
	}
	if err != nil {
		d.answers <- RolloutInput{Kind: NodeEnded, Node: a.Node, Result: ResultFailed, Message: err.Error()}
		return err
	}
	d.launches = append(d.launches, launch{node: a.Node, call: func(ctx context.Context) RolloutInput {
		return d.follow(ctx, a.Node, log)
	}})
	return nil
}

func (d *RolloutDriver) queueCall(a RolloutAction) {
	node := d.member(a.Node)
	d.launches = append(d.launches, launch{node: a.Node, call: func(ctx context.Context) RolloutInput {
		relay := func(ev Event) { d.relay(node.Name, ev) }
		var last Event
		var err error
		if a.Kind == RollForward && d.opts.Kind == KindDeploy {
			last, err = d.opts.Peers.Deploy(ctx, node, d.opts.To, relay)
		} else {
			last, err = d.opts.Peers.Rollback(ctx, node, a.Version, relay)
		}
		switch {
		case err == nil:
			return endedWith(node.Name, last)
		case ctx.Err() != nil:
			// Stopped or given up on: its roll may go on there.
			return RolloutInput{Kind: NodeEnded, Node: node.Name, Result: ResultInterrupted, Message: err.Error()}
		case errors.Is(err, ErrUnreachable):
			return RolloutInput{Kind: NodeUnreachable, Node: node.Name, Message: err.Error()}
		}
		return RolloutInput{Kind: NodeEnded, Node: node.Name, Result: ResultFailed, Message: err.Error()}
	}})
}

func (d *RolloutDriver) member(name string) Member {
	for _, m := range d.opts.Nodes {
		if m.Name == name {
			return m
		}
	}
	return Member{Name: name}
}

// launch starts the queued calls, each under its own context so that
// one given up on can be cancelled alone.
func (d *RolloutDriver) launch(ctx context.Context, wg *sync.WaitGroup) {
	for _, l := range d.launches {
		cctx, cancel := context.WithCancel(ctx)
		d.cancels[l.node] = cancel
		wg.Go(func() {
			defer cancel()
			d.answers <- l.call(cctx)
		})
	}
	d.launches = nil
}

// follow relays the events of the coordinator's own deploy until it ends
// (or ctx does: its owner stops it then) and returns how it ended.
func (d *RolloutDriver) follow(ctx context.Context, node string, log EventLog) RolloutInput {
	var last Event
	for next := 0; ; {
		evs, done, changed := log.Events(next)
		next += len(evs)
		for _, ev := range evs {
			last = ev
			d.relay(node, ev)
		}
		if done {
			return endedWith(node, last)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return RolloutInput{Kind: NodeEnded, Node: node, Result: ResultInterrupted, Message: "tandem stopped during the " + d.opts.Kind}
		}
	}
}

// endedWith is the answer of a node whose roll ended with last.
func endedWith(node string, last Event) RolloutInput {
	if last.Result == "" {
		return RolloutInput{Kind: NodeEnded, Node: node, Result: ResultFailed, Message: "its progress ended without a result"}
	}
	return RolloutInput{Kind: NodeEnded, Node: node, Result: last.Result, Version: last.Version, Message: last.Message}
}

// relay adds one node's event to the rollout's: marked with the node,
// and without its result, which only the rollout as a whole has.
func (d *RolloutDriver) relay(node string, ev Event) {
	ev.Node, ev.Result = node, ""
	d.emit(ev)
}

func (d *RolloutDriver) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, ev)
	d.notifyLocked()
}

func (d *RolloutDriver) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}
