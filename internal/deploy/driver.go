package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxOutputEvents bounds how many lines of release-phase output a deploy
// keeps for its watchers; later lines are counted, not kept.
const maxOutputEvents = 2000

// Runtime performs a deploy's actions on real instances. The Driver calls
// Start from its own goroutine, RunRelease and Retire from goroutines it
// starts and waits for; Finish once, last.
type Runtime interface {
	// RunRelease runs rel's release command to completion, passing each
	// line of its output to output. It fails if the command does.
	RunRelease(ctx context.Context, rel Release, output func(line string)) error
	// Start starts one instance of rel and returns its name. The instance
	// takes requests once its health check passes, which the Runtime
	// reports with Driver.Healthy.
	Start(ctx context.Context, rel Release) (instance string, err error)
	// Retire takes instance out of the balancer (no new requests), waits
	// up to drain for its requests in flight, then stops it (stop signal,
	// grace, SIGKILL). A drain that runs out of time is reported, not
	// fatal: the instance is stopped anyway.
	Retire(ctx context.Context, instance string, drain time.Duration) error
	// Describe says in a few words what is known of why instance is not
	// healthy (its last failed check, its last exit), for the reason of a
	// rollback; "" if nothing is.
	Describe(instance string) string
	// Finish records the deploy's end: rec.Result says which release runs.
	Finish(rec Record) error
}

// DriverOptions configure a Driver.
type DriverOptions struct {
	// From and To are the current and the new release.
	From, To Release
	// Old are the instances of From serving now.
	Old []string
	// Want is how many instances must serve when done.
	Want int
	// Surge is how many new instances may start ahead of retiring old ones.
	Surge int
	// Startup is the health gate allowance of a new instance.
	Startup time.Duration
	// Drain bounds how long a retired instance's requests may take to finish.
	Drain time.Duration
	// ReleasePhase runs To's release command first.
	ReleasePhase bool
	// ReleaseTimeout bounds the release phase; 0 means no bound.
	ReleaseTimeout time.Duration
	// Record is the deploy's record: ID, Kind, Who; the driver fills in the rest.
	Record Record
	// Runtime performs the actions.
	Runtime Runtime
	// Logger receives the deploy's steps; nil discards them.
	Logger *slog.Logger
}

// Event is one step of a deploy, as shown live by the CLI.
type Event struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"` // one of the Step constants
	Instance string    `json:"instance,omitempty"`
	Version  string    `json:"version,omitempty"`
	Ready    int       `json:"ready"` // instances of the target release that passed their gate
	Want     int       `json:"want"`
	Message  string    `json:"message"`
	// Result is set on the last event of a deploy.
	Result Result `json:"result,omitempty"`
	// Node names the node the step happened on, in a rollout across the
	// cluster; "" for the steps of a one-node deploy and for those of the
	// rollout as a whole (StepZone, StepRollback, its last StepDone).
	Node string `json:"node,omitempty"`
}

// The steps of Event.
const (
	StepBegin    = "begin"
	StepRelease  = "release"  // the release phase started or ended
	StepOutput   = "output"   // a line of release-phase output
	StepStart    = "start"    // an instance started
	StepHealthy  = "healthy"  // an instance passed its gate
	StepDrain    = "drain"    // an instance is being drained
	StepStop     = "stop"     // an instance stopped
	StepRollback = "rollback" // the deploy rolls back
	StepDone     = "done"
	// StepZone is a rollout's own step across the cluster: its plan, a
	// zone starting, a node not reached or given up on.
	StepZone = "zone"
)

// Driver runs one deploy: it performs a Machine's actions through a
// Runtime and feeds back the results and the instance events it is told
// about, and keeps the deploy's events for watchers.
type Driver struct {
	opts    DriverOptions
	log     *slog.Logger
	m       *Machine // touched only by Run's goroutine
	inputs  inputQueue
	started map[string]time.Time // instance -> when it started; Run's goroutine only

	mu      sync.Mutex // guards the fields below
	events  []Event
	dropped int           // output lines not kept
	changed chan struct{} // closed and replaced when events grow or the deploy ends
	record  Record
	done    bool
	prog    Progress
	detail  string // what the Runtime said of the instance that failed its gate
}

// NewDriver checks opts and returns a driver that has not started.
func NewDriver(opts DriverOptions) (*Driver, error) {
	m, err := NewMachine(Config{
		From: opts.From.Version, To: opts.To.Version, Old: opts.Old, Want: opts.Want,
		Surge: opts.Surge, Startup: opts.Startup, ReleasePhase: opts.ReleasePhase,
	})
	if err != nil {
		return nil, fmt.Errorf("new deploy: %w", err)
	}
	if opts.Runtime == nil {
		return nil, errors.New("new deploy: no runtime")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rec := opts.Record
	rec.From, rec.To = opts.From.Version, opts.To.Version
	return &Driver{
		opts:    opts,
		log:     log,
		m:       m,
		inputs:  newInputQueue(),
		started: make(map[string]time.Time),
		changed: make(chan struct{}),
		record:  rec,
		prog:    m.Progress(),
	}, nil
}

// Healthy tells the deploy that instance passed its health check. It may
// be called from any goroutine, at any time; it never blocks.
func (d *Driver) Healthy(instance string) {
	d.inputs.push(Input{Kind: InputHealthy, Instance: instance})
}

// Failed tells the deploy that instance cannot become healthy (it keeps
// crashing). It may be called from any goroutine; it never blocks.
func (d *Driver) Failed(instance, reason string) {
	d.inputs.push(Input{Kind: InputFailed, Instance: instance, Err: reason})
}

// Events returns the deploy's events from index from on, whether the
// deploy is over, and a channel closed when there is more to see.
func (d *Driver) Events(from int) (evs []Event, done bool, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if from < len(d.events) {
		evs = append(evs, d.events[from:]...)
	}
	return evs, d.done, d.changed
}

// Status returns the deploy's record so far and its progress.
func (d *Driver) Status() (Record, Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.record, d.prog
}

// Run runs the deploy until it is over or ctx ends (then it is
// interrupted), calls Runtime.Finish and returns the final record. Every
// goroutine it starts has exited when it returns.
func (d *Driver) Run(ctx context.Context) Record {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	now := time.Now()
	d.mu.Lock()
	d.record.Started = now
	d.mu.Unlock()
	d.emit(Event{Step: StepBegin, Version: d.opts.To.Version, Message: d.beginMessage()})

	acts := d.m.Start(now)
	d.sync()
	d.perform(ctx, &wg, acts)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !d.m.Done() && ctx.Err() == nil {
		var timerC <-chan time.Time
		if dl, ok := d.m.NextDeadline(); ok {
			timer.Reset(time.Until(dl))
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
		case <-d.inputs.ready:
			for _, in := range d.inputs.take() {
				d.perform(ctx, &wg, d.step(in))
			}
		case <-timerC:
			acts := d.m.Step(time.Now(), Input{Kind: InputTick})
			d.sync()
			d.perform(ctx, &wg, acts)
		}
	}
	if !d.m.Done() {
		d.finish(Action{Kind: ActFinish, Result: ResultInterrupted, Version: d.opts.From.Version,
			Reason: "tandem stopped during the deploy; " + d.opts.From.Version + " runs when it starts again"})
	}
	cancel()
	wg.Wait()

	d.mu.Lock()
	rec := d.record
	d.mu.Unlock()
	if err := d.opts.Runtime.Finish(rec); err != nil {
		d.log.Error("record deploy", "err", err)
	}
	d.mu.Lock()
	d.done = true
	d.notifyLocked()
	d.mu.Unlock()
	return rec
}

func (d *Driver) beginMessage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s -> %s: %d %s, surge %d, startup allowance %s",
		d.record.Kind, d.opts.From.Version, d.opts.To.Version, d.opts.Want, plural(d.opts.Want, "instance", "instances"), d.opts.Surge, d.opts.Startup)
	if d.opts.From.Version == "" {
		b.Reset()
		fmt.Fprintf(&b, "%s %s", d.record.Kind, d.opts.To.Version)
	}
	return b.String()
}

// step feeds one input to the machine, reporting what it means.
func (d *Driver) step(in Input) []Action {
	wasGated := in.Kind == InputHealthy && d.m.gatedIndex(in.Instance) >= 0
	acts := d.m.Step(time.Now(), in)
	d.sync()
	if wasGated {
		d.emit(Event{Step: StepHealthy, Instance: in.Instance, Version: d.m.Progress().Target,
			Message: fmt.Sprintf("%s healthy after %s", in.Instance, time.Since(d.started[in.Instance]).Round(time.Millisecond))})
	}
	return acts
}

// perform carries out actions; the results of starts are fed back at
// once, those of slow actions from their goroutines through the queue.
func (d *Driver) perform(ctx context.Context, wg *sync.WaitGroup, acts []Action) {
	d.sync()
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		switch a.Kind {
		case ActRunRelease:
			wg.Go(func() { d.runRelease(ctx) })
		case ActStart:
			acts = append(acts, d.start(ctx, a.Version)...)
		case ActRetire:
			d.emit(Event{Step: StepDrain, Instance: a.Instance, Message: fmt.Sprintf("draining %s (up to %s)", a.Instance, d.opts.Drain)})
			wg.Go(func() { d.retire(ctx, a.Instance) })
		case ActFinish:
			d.finish(a)
		}
	}
}

// sync publishes the machine's progress and reports, once, that the
// deploy turned into a rollback.
func (d *Driver) sync() {
	p := d.m.Progress()
	d.mu.Lock()
	was := d.prog.Phase
	d.prog = p
	d.mu.Unlock()
	if p.Phase == PhaseRollback && was != PhaseRollback {
		reason := p.Reason
		if p.Failed != "" {
			if detail := d.opts.Runtime.Describe(p.Failed); detail != "" {
				reason += " (" + detail + ")"
				d.mu.Lock()
				d.detail = detail
				d.mu.Unlock()
			}
		}
		d.log.Warn("deploy rolling back", "to", p.Target, "reason", reason)
		d.emit(Event{Step: StepRollback, Version: p.Target, Message: "rolling back to " + p.Target + ": " + reason})
	}
}

func (d *Driver) release(version string) Release {
	if version == d.opts.To.Version {
		return d.opts.To
	}
	return d.opts.From
}

func (d *Driver) runRelease(ctx context.Context) {
	cmd := strings.Join(d.opts.To.ReleaseCommand, " ")
	d.emit(Event{Step: StepRelease, Version: d.opts.To.Version, Message: "release phase: " + cmd})
	if d.opts.ReleaseTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.opts.ReleaseTimeout)
		defer cancel()
	}
	begin := time.Now()
	err := d.opts.Runtime.RunRelease(ctx, d.opts.To, func(line string) {
		d.emit(Event{Step: StepOutput, Version: d.opts.To.Version, Message: line})
	})
	in := Input{Kind: InputReleaseDone}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (timed out after %s)", err, d.opts.ReleaseTimeout)
		}
		in.Err = err.Error()
		d.emit(Event{Step: StepRelease, Version: d.opts.To.Version, Message: "release phase failed: " + in.Err})
	} else {
		d.emit(Event{Step: StepRelease, Version: d.opts.To.Version, Message: fmt.Sprintf("release phase done in %s", time.Since(begin).Round(time.Millisecond))})
	}
	d.inputs.push(in)
}

func (d *Driver) start(ctx context.Context, version string) []Action {
	name, err := d.opts.Runtime.Start(ctx, d.release(version))
	now := time.Now()
	if err != nil {
		d.emit(Event{Step: StepStart, Version: version, Message: "start failed: " + err.Error()})
		acts := d.m.Step(now, Input{Kind: InputStartFailed, Version: version, Err: err.Error()})
		d.sync()
		return acts
	}
	d.started[name] = now
	d.emit(Event{Step: StepStart, Instance: name, Version: version, Message: fmt.Sprintf("started %s (%s); waiting for its health check", name, version)})
	acts := d.m.Step(now, Input{Kind: InputStarted, Version: version, Instance: name})
	d.sync()
	return acts
}

func (d *Driver) retire(ctx context.Context, instance string) {
	begin := time.Now()
	var msg string
	if err := d.opts.Runtime.Retire(ctx, instance, d.opts.Drain); err != nil {
		msg = fmt.Sprintf("stopped %s: %v", instance, err)
	} else {
		msg = fmt.Sprintf("stopped %s after %s", instance, time.Since(begin).Round(time.Millisecond))
	}
	d.emit(Event{Step: StepStop, Instance: instance, Message: msg})
	d.inputs.push(Input{Kind: InputRetired, Instance: instance})
}

func (d *Driver) finish(a Action) {
	now := time.Now()
	d.mu.Lock()
	if d.detail != "" && a.Result != ResultSucceeded && a.Result != ResultInterrupted {
		a.Reason += " (" + d.detail + ")"
	}
	d.record.Finished = now
	d.record.Result = a.Result
	d.record.Reason = a.Reason
	d.prog.Phase, d.prog.Result, d.prog.Reason = PhaseDone, a.Result, a.Reason
	dur := d.record.Duration(now).Round(time.Millisecond)
	d.mu.Unlock()
	msg := fmt.Sprintf("%s: %s runs (%s)", a.Result, a.Version, dur)
	if a.Reason != "" {
		msg = fmt.Sprintf("%s: %s; %s runs (%s)", a.Result, a.Reason, a.Version, dur)
	}
	level := slog.LevelInfo
	if a.Result != ResultSucceeded {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "deploy finished", "result", string(a.Result), "from", d.opts.From.Version,
		"to", d.opts.To.Version, "runs", a.Version, "reason", a.Reason, "duration", dur)
	d.emit(Event{Step: StepDone, Version: a.Version, Message: msg, Result: a.Result})
}

// emit records an event for watchers.
func (d *Driver) emit(ev Event) {
	ev.Time = time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	ev.Ready, ev.Want = d.prog.Ready, d.opts.Want
	if ev.Step == StepOutput {
		if d.dropped > 0 || len(d.events) >= maxOutputEvents {
			d.dropped++
			return
		}
	} else {
		d.log.Info("deploy step", "step", ev.Step, "instance", ev.Instance, "version", ev.Version, "message", ev.Message)
	}
	if ev.Step == StepRelease && d.dropped > 0 {
		d.events = append(d.events, Event{Time: ev.Time, Step: StepOutput, Message: fmt.Sprintf("(%d more lines of output not shown; see tandem's log)", d.dropped)})
		d.dropped = 0
	}
	d.events = append(d.events, ev)
	d.notifyLocked()
}

func (d *Driver) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// inputQueue is an unbounded queue of inputs, so that reporting an event
// never blocks the balancer or the supervisor.
type inputQueue struct {
	ready chan struct{} // capacity 1: there is something to take
	mu    sync.Mutex    // guards items
	items []Input
}

func newInputQueue() inputQueue { return inputQueue{ready: make(chan struct{}, 1)} }

func (q *inputQueue) push(in Input) {
	q.mu.Lock()
	q.items = append(q.items, in)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *inputQueue) take() []Input {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
