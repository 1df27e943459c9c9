package deploy

import (
	"fmt"
	"time"
)

// RolloutConfig describes one rollout across the cluster to a Rollout.
type RolloutConfig struct {
	// Kind is KindDeploy (every node rolls to the release To) or
	// KindRollback (every node rolls back to its kept release To).
	Kind string
	// From is the version the coordinator runs now: what a rollout that
	// fails rolls every node it changed back to. To is the version
	// rolled out. Both set, and different.
	From, To string
	// Self is the coordinator: it rolls first, with the release phase,
	// and rolls back last.
	Self Member
	// Nodes are the other nodes that run the app; Self, if among them,
	// is left out.
	Nodes []Member
	// NodeTimeout bounds how long another node may take to end a roll
	// (forward or back) before it counts as failed; > 0. The caller
	// derives it from the app's startup allowance, drain and instance
	// count. The coordinator's own deploy has none here: its own
	// Machine bounds it.
	NodeTimeout time.Duration
}

// RolloutInputKind says what happened.
type RolloutInputKind int

// The inputs of a Rollout.
const (
	// NodeEnded: Node's roll ended. Result is how (as its last event
	// said, or ResultFailed when the call failed), Version the release
	// it runs now ("" if unknown), Message its last words.
	NodeEnded RolloutInputKind = iota + 1
	// NodeUnreachable: Node was not reached: the request never got
	// there, or the connection failed before it accepted the roll, so
	// nothing changed there. Message says why. Not a failure of the
	// release: the node converges to the cluster's release when it
	// returns.
	NodeUnreachable
	// LockLost: the coordinator lost its cluster-wide deploy lock.
	LockLost
	// Stopping: tandem is stopping; the calls in flight are cancelled.
	Stopping
	// RolloutTick: time passed.
	RolloutTick
)

// RolloutInput is one event fed to Rollout.Step.
type RolloutInput struct {
	Kind    RolloutInputKind
	Node    string
	Result  Result
	Version string
	Message string
}

// RolloutActionKind says what the driver must do.
type RolloutActionKind int

// The actions of a Rollout.
const (
	// RollForward: have Node roll to Version as the rollout's Kind says
	// (deploy the release, running its release phase first if
	// ReleasePhase; or roll back to that kept release), then feed
	// NodeEnded or NodeUnreachable.
	RollForward RolloutActionKind = iota + 1
	// RollBack: have Node roll back to its kept release Version, then
	// feed NodeEnded or NodeUnreachable.
	RollBack
	// RollCancel: stop waiting for Node's roll (it took too long); its
	// answer, if any comes, is ignored.
	RollCancel
	// RollReport: tell watchers an event of the rollout itself: Step,
	// Node (if it concerns one), Version, Message.
	RollReport
	// RollFinish: the rollout is over with Result; Version is the
	// release the cluster is meant to run now ("" when interrupted),
	// Message says what runs where, Unreached names the nodes that
	// were not reached, which converge to it when they return.
	RollFinish
)

// RolloutAction is one thing the driver must do.
type RolloutAction struct {
	Kind         RolloutActionKind
	Node         string
	Version      string
	ReleasePhase bool
	Step         string
	Message      string
	Result       Result
	Unreached    []string
}

// RolloutProgress is a snapshot of a rollout.
type RolloutProgress struct {
	Phase  Phase  // PhaseRoll, then PhaseRollback after a failure, PhaseDone
	Target string // the version being rolled to: To, or From in the rollback
	// Zone is the zone of the nodes rolling now (the coordinator's while
	// it rolls alone).
	Zone    string
	Rolling []string // nodes asked that have not answered
	// Runs maps each node that answered to the version it said it runs
	// now; nodes not asked or not reached, and answers that did not
	// say, are absent.
	Runs      map[string]string
	Unreached []string
	// Halted says why nothing more starts (the lock was lost, tandem
	// stops); "" while the rollout may go on.
	Halted  string
	Result  Result // "" until done
	Message string // the final message; "" until done
}

// Rollout is a deploy (or rollback) across the cluster as a pure state
// machine, coordinated by one node, Self: it rolls Self first (the
// release phase runs there, once), then the other nodes zone by zone (see
// planZones), all nodes of a zone at once; a zone starts only when every
// node of the one before it has answered. A node that fails or times out
// stops the rollout: the nodes done roll back in the reverse order, the
// last zone first and Self last. A node not reached is no failure: the
// rollout goes on without it, and it converges to the cluster's release
// when it returns. Once the cluster-wide lock is lost nothing more
// starts, not even a rollback: the rollout ends, interrupted, when the
// rolls in flight have.
//
// Start and Step take the current time and an input and return the
// actions to perform; nothing in it blocks, sleeps or reads a clock. It
// is not safe for concurrent use.
type Rollout struct {
	cfg   RolloutConfig
	waves [][]Member
	order []*rollNode // Self, then the other nodes in rollout order
	nodes map[string]*rollNode
	self  *rollNode
	phase Phase
	// wave is the wave rolling (forward, or back in PhaseRollback); -1
	// while Self rolls.
	wave     int
	began    time.Time
	halt     string   // why nothing more starts; "" while the rollout may go on
	failures []string // why the rollout turned back
	result   Result
	msg      string
}

// nodeState is where one node is in a rollout.
type nodeState int

const (
	untouched nodeState = iota // not asked to roll
	rolling                    // asked; no answer yet
	rolled                     // its roll succeeded
	failed                     // its roll did not succeed, or did not end in time
	unreached                  // not reached; nothing changed there
)

type rollNode struct {
	Member
	wave     int       // its wave; -1 for Self
	state    nodeState // of its rollback if back
	back     bool      // asked to roll back
	result   Result    // how its last roll ended, as it said
	runs     string    // the version it runs, as its last answer said; "" unknown
	reason   string    // why it failed or was not reached
	deadline time.Time // when its answer is late; zero for Self
}

// NewRollout checks cfg and returns a rollout that has not started.
func NewRollout(cfg RolloutConfig) (*Rollout, error) {
	switch {
	case cfg.Kind != KindDeploy && cfg.Kind != KindRollback:
		return nil, fmt.Errorf("%w: kind %q is neither %q nor %q", ErrBadConfig, cfg.Kind, KindDeploy, KindRollback)
	case cfg.From == "" || cfg.To == "":
		return nil, fmt.Errorf("%w: from %q and to %q must both be set", ErrBadConfig, cfg.From, cfg.To)
	case cfg.From == cfg.To:
		return nil, fmt.Errorf("%w: from and to are the same version %q", ErrBadConfig, cfg.To)
	case cfg.Self.Name == "":
		return nil, fmt.Errorf("%w: the coordinator has no name", ErrBadConfig)
	case cfg.NodeTimeout <= 0:
		return nil, fmt.Errorf("%w: node timeout %s <= 0", ErrBadConfig, cfg.NodeTimeout)
	}
	r := &Rollout{cfg: cfg, waves: planZones(cfg.Self, cfg.Nodes), nodes: make(map[string]*rollNode), wave: -1}
	r.self = &rollNode{Member: cfg.Self, wave: -1}
	r.order = append(r.order, r.self)
	r.nodes[cfg.Self.Name] = r.self
	for i, wave := range r.waves {
		for _, m := range wave {
			if m.Name == "" {
				return nil, fmt.Errorf("%w: a node of zone %q has no name", ErrBadConfig, m.Zone)
			}
			if _, dup := r.nodes[m.Name]; dup {
				return nil, fmt.Errorf("%w: node %q is listed twice", ErrBadConfig, m.Name)
			}
			n := &rollNode{Member: m, wave: i}
			r.order = append(r.order, n)
			r.nodes[m.Name] = n
		}
	}
	return r, nil
}

// Start begins the rollout: it reports the plan and rolls Self.
func (r *Rollout) Start(now time.Time) []RolloutAction {
	if r.phase != "" {
		return nil
	}
	r.phase, r.began = PhaseRoll, now
	acts := []RolloutAction{r.report(StepZone, "", r.cfg.To, r.planMessage())}
	return append(acts, r.forward(now, r.self))
}

// Done reports whether the rollout is over (RollFinish was returned).
func (r *Rollout) Done() bool { return r.phase == PhaseDone }

// NextDeadline returns when the earliest answer of another node is due;
// ok is false when none is awaited. A tick at that time or later acts on
// it.
func (r *Rollout) NextDeadline() (deadline time.Time, ok bool) {
	for _, n := range r.order {
		if n.state == rolling && !n.deadline.IsZero() && (!ok || n.deadline.Before(deadline)) {
			deadline, ok = n.deadline, true
		}
	}
	return deadline, ok
}

// Step feeds one input at time now and returns the actions it calls for.
// Answers of nodes the rollout does not wait on are ignored.
func (r *Rollout) Step(now time.Time, in RolloutInput) []RolloutAction {
	if r.phase == "" || r.phase == PhaseDone {
		return nil
	}
	switch in.Kind {
	case NodeEnded:
		return r.ended(now, in)
	case NodeUnreachable:
		return r.unreachable(now, in)
	case LockLost:
		return r.stop(now, "lost the cluster-wide deploy lock")
	case Stopping:
		return r.stop(now, "tandem stopped during the "+r.cfg.Kind)
	case RolloutTick:
		return r.tick(now)
	}
	return nil
}

// waiting returns the node named if the rollout waits for its answer.
func (r *Rollout) waiting(name string) *rollNode {
	if n := r.nodes[name]; n != nil && n.state == rolling {
		return n
	}
	return nil
}

func (r *Rollout) ended(now time.Time, in RolloutInput) []RolloutAction {
	n := r.waiting(in.Node)
	if n == nil {
		return nil
	}
	n.result, n.runs = in.Result, in.Version
	if in.Result != ResultSucceeded {
		n.state, n.reason = failed, fmt.Sprintf("%s did not succeed (%s)", n.Name, in.Message)
		return r.advance(now)
	}
	n.state = rolled
	if n.runs == "" {
		n.runs = r.target()
	}
	return r.advance(now)
}

// unreachable handles a node not reached. Self runs its own deploy and
// cannot be unreachable: such an answer means its deploy did not start.
func (r *Rollout) unreachable(now time.Time, in RolloutInput) []RolloutAction {
	n := r.waiting(in.Node)
	if n == nil {
		return nil
	}
	if n == r.self {
		return r.ended(now, RolloutInput{Kind: NodeEnded, Node: in.Node, Result: ResultFailed, Message: in.Message})
	}
	n.state, n.reason = unreached, in.Message
	acts := []RolloutAction{r.report(StepZone, n.Name, "", fmt.Sprintf("%s not reached (%s); it converges to the cluster's release when it returns", n.Name, in.Message))}
	return append(acts, r.advance(now)...)
}

// tick gives up on the nodes whose answer is late: they count as failed.
func (r *Rollout) tick(now time.Time) []RolloutAction {
	var acts []RolloutAction
	for _, n := range r.order {
		if n.state != rolling || n.deadline.IsZero() || now.Before(n.deadline) {
			continue
		}
		what := r.cfg.Kind
		if n.back {
			what = KindRollback
		}
		n.state, n.runs = failed, ""
		n.reason = fmt.Sprintf("%s did not end its %s within %s", n.Name, what, r.cfg.NodeTimeout)
		acts = append(acts, RolloutAction{Kind: RollCancel, Node: n.Name},
			r.report(StepZone, n.Name, "", n.reason+"; no longer waiting for it"))
	}
	if len(acts) == 0 {
		return nil
	}
	return append(acts, r.advance(now)...)
}

// stop starts nothing more: the rollout ends once the rolls in flight
// have. Without the lock it must not roll anything back either: another
// coordinator may hold the lock by then.
func (r *Rollout) stop(now time.Time, reason string) []RolloutAction {
	if r.halt != "" {
		return nil
	}
	r.halt = reason
	msg := reason + ": starting nothing more, rolling nothing back"
	if names := r.rolling(); len(names) > 0 {
		msg += "; waiting for " + joinNames(names) + " to end"
	}
	acts := []RolloutAction{r.report(StepZone, "", "", msg)}
	return append(acts, r.advance(now)...)
}

// advance decides what comes next once no answer is awaited.
func (r *Rollout) advance(now time.Time) []RolloutAction {
	switch {
	case len(r.rolling()) > 0:
		return nil
	case r.phase == PhaseRoll && r.wave < 0 && r.self.state != rolled:
		return r.finishSelfFailed()
	case r.halt != "":
		return r.finishHalted(now)
	case r.phase == PhaseRoll:
		r.failures = r.reasons(func(n *rollNode) bool { return n.wave == r.wave })
		if len(r.failures) > 0 {
			return r.rollBack(now)
		}
		if r.wave+1 < len(r.waves) {
			return r.rollWave(now, r.wave+1)
		}
		return r.finishSucceeded(now)
	case r.phase == PhaseRollback && r.wave >= 0:
		return r.backFrom(now, r.wave-1)
	default: // Self rolled back
		return r.finishRollback(now)
	}
}

// rollWave rolls the nodes of wave i forward, all at once.
func (r *Rollout) rollWave(now time.Time, i int) []RolloutAction {
	r.wave = i
	wave := r.waves[i]
	acts := []RolloutAction{r.report(StepZone, "", r.cfg.To, fmt.Sprintf("zone %s: %s %s", zoneName(wave[0].Zone), r.cfg.Kind, memberNames(wave)))}
	for _, m := range wave {
		acts = append(acts, r.forward(now, r.nodes[m.Name]))
	}
	return acts
}

func (r *Rollout) forward(now time.Time, n *rollNode) RolloutAction {
	r.ask(now, n)
	return RolloutAction{Kind: RollForward, Node: n.Name, Version: r.cfg.To, ReleasePhase: n == r.self && r.cfg.Kind == KindDeploy}
}

func (r *Rollout) ask(now time.Time, n *rollNode) {
	n.state = rolling
	if n != r.self {
		n.deadline = now.Add(r.cfg.NodeTimeout)
	}
}

// rollBack turns the rollout back: the nodes rolled forward roll back,
// the wave that failed first (its other nodes may have succeeded), Self
// last.
func (r *Rollout) rollBack(now time.Time) []RolloutAction {
	r.phase = PhaseRollback
	msg := fmt.Sprintf("rolling %s back to %s: %s", joinNames(r.names(rolled, false)), r.cfg.From, joinReasons(r.failures))
	acts := []RolloutAction{r.report(StepRollback, "", r.cfg.From, msg)}
	return append(acts, r.backFrom(now, r.wave)...)
}

// backFrom rolls back the latest wave at or before i that has nodes
// rolled forward, or Self when none is left.
func (r *Rollout) backFrom(now time.Time, i int) []RolloutAction {
	for ; i >= 0; i-- {
		var back []*rollNode
		for _, m := range r.waves[i] {
			if n := r.nodes[m.Name]; n.state == rolled && !n.back {
				back = append(back, n)
			}
		}
		if len(back) == 0 {
			continue
		}
		r.wave = i
		names := make([]string, len(back))
		for j, n := range back {
			names[j] = n.Name
		}
		acts := []RolloutAction{r.report(StepZone, "", r.cfg.From, fmt.Sprintf("zone %s: rolling %s back to %s", zoneName(back[0].Zone), joinNames(names), r.cfg.From))}
		for _, n := range back {
			acts = append(acts, r.back(now, n))
		}
		return acts
	}
	r.wave = -1
	return []RolloutAction{r.back(now, r.self)}
}

func (r *Rollout) back(now time.Time, n *rollNode) RolloutAction {
	n.back = true
	r.ask(now, n)
	return RolloutAction{Kind: RollBack, Node: n.Name, Version: r.cfg.From}
}

// target is the version the rollout rolls nodes to now.
func (r *Rollout) target() string {
	if r.phase == PhaseRollback {
		return r.cfg.From
	}
	return r.cfg.To
}

func (r *Rollout) finish(result Result, version, msg string) []RolloutAction {
	r.phase, r.result, r.msg = PhaseDone, result, msg
	return []RolloutAction{{Kind: RollFinish, Result: result, Version: version, Message: msg, Unreached: r.names(unreached, false, true)}}
}
