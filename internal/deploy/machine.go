package deploy

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Phase is where a deploy is.
type Phase string

// The phases of a deploy, in order; PhaseRollback only after a failed gate.
const (
	PhaseRelease  Phase = "release"  // the release phase runs
	PhaseRoll     Phase = "roll"     // old instances are replaced by the new release's
	PhaseRollback Phase = "rollback" // new instances are replaced by the old release's again
	PhaseDone     Phase = "done"
)

// Result is how a deploy ended.
type Result string

// The results of a deploy.
const (
	// ResultSucceeded: every instance runs the new release.
	ResultSucceeded Result = "succeeded"
	// ResultRolledBack: a new instance failed its health gate; every
	// instance runs the old release again.
	ResultRolledBack Result = "rolled back"
	// ResultFailed: the release phase failed and nothing was replaced, or
	// the rollback failed too (then Reason says what runs).
	ResultFailed Result = "failed"
	// ResultInterrupted: tandem stopped during the deploy; the old release
	// runs when it starts again.
	ResultInterrupted Result = "interrupted"
)

// Config describes one deploy to a Machine.
type Config struct {
	From, To string   // versions of the current and the new release; different
	Old      []string // instances of From serving now, retired in this order
	Want     int      // instances to run when done, >= 0
	// Surge is how many new instances may be starting at once, ahead of
	// retiring old ones; >= 1.
	Surge int
	// Startup is how long a new instance may take to pass its health
	// check (the gate); > 0.
	Startup time.Duration
	// ReleasePhase runs the release phase of To before any instance starts.
	ReleasePhase bool
}

// InputKind says what happened.
type InputKind int

// The inputs of a Machine.
const (
	// InputReleaseDone: the release phase ended; Err is set if it failed.
	InputReleaseDone InputKind = iota + 1
	// InputStarted: an instance of Version was started as Instance.
	InputStarted
	// InputStartFailed: an instance of Version could not be started; Err says why.
	InputStartFailed
	// InputHealthy: Instance passed its health check and takes requests.
	InputHealthy
	// InputFailed: Instance cannot become healthy (it keeps crashing); Err says why.
	InputFailed
	// InputRetired: Instance was drained and stopped.
	InputRetired
	// InputTick: time passed.
	InputTick
)

// Input is one event fed to Machine.Step.
type Input struct {
	Kind     InputKind
	Instance string
	Version  string
	Err      string
}

// ActionKind says what the driver must do.
type ActionKind int

// The actions of a Machine.
const (
	// ActRunRelease: run the release phase of Version, then feed InputReleaseDone.
	ActRunRelease ActionKind = iota + 1
	// ActStart: start an instance of Version, then feed InputStarted or InputStartFailed.
	ActStart
	// ActRetire: drain Instance (no new requests, in-flight ones finish
	// within the drain deadline), stop it, then feed InputRetired.
	ActRetire
	// ActFinish: the deploy is over with Result; Version is the release
	// that runs now, Reason says why a deploy did not succeed.
	ActFinish
)

// Action is one thing the driver must do.
type Action struct {
	Kind     ActionKind
	Instance string
	Version  string
	Result   Result
	Reason   string
}

// Progress is a snapshot of a deploy.
type Progress struct {
	Phase  Phase
	Target string // the version being rolled to
	Ready  int    // instances of Target that passed their gate
	Want   int
	Reason string // why it rolls back or failed; "" otherwise
	// Failed names the new instance whose failed gate rolled the deploy
	// back; "" if none did.
	Failed string
	Result Result // "" until done
}

// ErrBadConfig is returned by NewMachine for an impossible Config.
var ErrBadConfig = errors.New("invalid deploy config")

// Machine is a deploy as a pure state machine: Start and Step take the
// current time and an input and return the actions to perform; nothing in
// it blocks, sleeps or reads a clock. It is not safe for concurrent use.
type Machine struct {
	cfg    Config
	phase  Phase
	target string // the version being rolled to: To, or From in a rollback
	// old lists the serving instances of the other release that are not
	// retired yet, in retirement order.
	old []string
	// fresh lists the instances of target that passed their gate.
	fresh []string
	// gated lists started instances of target waiting for their gate.
	gated    []gate
	starting map[string]int // version -> starts asked for, not answered yet
	retiring map[string]bool
	reason   string // why the deploy rolls back or failed
	failed   string // the instance whose gate failed first
	result   Result
}

type gate struct {
	instance string
	deadline time.Time
}

// NewMachine checks cfg and returns a machine that has not started.
func NewMachine(cfg Config) (*Machine, error) {
	switch {
	case cfg.From == cfg.To:
		return nil, fmt.Errorf("%w: from and to are the same version %q", ErrBadConfig, cfg.To)
	case cfg.Want < 0:
		return nil, fmt.Errorf("%w: want %d < 0", ErrBadConfig, cfg.Want)
	case cfg.Surge < 1:
		return nil, fmt.Errorf("%w: surge %d < 1", ErrBadConfig, cfg.Surge)
	case cfg.Startup <= 0:
		return nil, fmt.Errorf("%w: startup %s <= 0", ErrBadConfig, cfg.Startup)
	}
	return &Machine{
		cfg:      cfg,
		target:   cfg.To,
		old:      slices.Clone(cfg.Old),
		starting: make(map[string]int),
		retiring: make(map[string]bool),
	}, nil
}

// Start begins the deploy: the release phase, or the first starts.
func (m *Machine) Start(now time.Time) []Action {
	if m.phase != "" {
		return nil
	}
	if m.cfg.ReleasePhase {
		m.phase = PhaseRelease
		return []Action{{Kind: ActRunRelease, Version: m.cfg.To}}
	}
	m.phase = PhaseRoll
	return m.advance()
}

// Done reports whether the deploy is over (ActFinish was returned).
func (m *Machine) Done() bool { return m.phase == PhaseDone }

// Progress returns a snapshot of the deploy.
func (m *Machine) Progress() Progress {
	return Progress{Phase: m.phase, Target: m.target, Ready: len(m.fresh), Want: m.cfg.Want, Reason: m.reason, Failed: m.failed, Result: m.result}
}

// NextDeadline returns when the earliest health gate expires; ok is false
// when no instance waits for its gate. A Tick at that time or later acts on it.
func (m *Machine) NextDeadline() (deadline time.Time, ok bool) {
	for _, g := range m.gated {
		if !ok || g.deadline.Before(deadline) {
			deadline, ok = g.deadline, true
		}
	}
	return deadline, ok
}

// Step feeds one input at time now and returns the actions it calls for.
// Inputs about instances the machine does not wait on are ignored.
func (m *Machine) Step(now time.Time, in Input) []Action {
	if m.phase == PhaseDone || m.phase == "" {
		return nil
	}
	switch in.Kind {
	case InputReleaseDone:
		return m.releaseDone(in.Err)
	case InputStarted:
		return m.started(now, in.Version, in.Instance)
	case InputStartFailed:
		return m.startFailed(in.Version, in.Err)
	case InputHealthy:
		return m.healthy(in.Instance)
	case InputFailed:
		if m.gatedIndex(in.Instance) >= 0 {
			return m.fail(in.Instance, in.Instance+": "+in.Err)
		}
	case InputRetired:
		if m.retiring[in.Instance] {
			delete(m.retiring, in.Instance)
			return m.advance()
		}
	case InputTick:
		for _, g := range m.gated {
			if !now.Before(g.deadline) {
				return m.fail(g.instance, fmt.Sprintf("%s did not become healthy within %s", g.instance, m.cfg.Startup))
			}
		}
	}
	return nil
}

func (m *Machine) releaseDone(err string) []Action {
	if m.phase != PhaseRelease {
		return nil
	}
	if err != "" {
		return m.finish(ResultFailed, "release phase failed: "+err, m.cfg.From)
	}
	m.phase = PhaseRoll
	return m.advance()
}

func (m *Machine) started(now time.Time, version, instance string) []Action {
	if m.starting[version] == 0 {
		return nil
	}
	m.starting[version]--
	if version != m.target {
		// Asked for before a rollback began: not wanted any more.
		return append(m.retire(instance), m.advance()...)
	}
	m.gated = append(m.gated, gate{instance: instance, deadline: now.Add(m.cfg.Startup)})
	return nil
}

func (m *Machine) startFailed(version, err string) []Action {
	if m.starting[version] == 0 {
		return nil
	}
	m.starting[version]--
	if version != m.target {
		return m.advance()
	}
	return m.fail("", "start an instance of "+version+": "+err)
}

func (m *Machine) healthy(instance string) []Action {
	i := m.gatedIndex(instance)
	if i < 0 {
		return nil
	}
	m.gated = slices.Delete(m.gated, i, i+1)
	m.fresh = append(m.fresh, instance)
	return m.advance()
}

func (m *Machine) gatedIndex(instance string) int {
	return slices.IndexFunc(m.gated, func(g gate) bool { return g.instance == instance })
}

// fail handles a new instance that will not pass its gate (instance; ""
// when none could start): the roll turns into a rollback; a failure
// during the rollback ends the deploy.
func (m *Machine) fail(instance, reason string) []Action {
	var acts []Action
	for _, g := range m.gated {
		acts = append(acts, m.retire(g.instance)...)
	}
	m.gated = nil
	if m.phase == PhaseRollback {
		m.result = ResultFailed
		m.reason = fmt.Sprintf("rollback to %s failed: %s (the deploy of %s had failed: %s); instances of both releases may be running",
			m.cfg.From, reason, m.cfg.To, m.reason)
		return append(acts, m.advance()...)
	}
	m.phase, m.reason, m.failed, m.target = PhaseRollback, reason, instance, m.cfg.From
	// The old release's serving instances are what the rollback keeps;
	// the new release's serving instances are what it replaces.
	m.old, m.fresh = m.fresh, m.old
	return append(acts, m.advance()...)
}

// advance starts and retires what the current counts call for, and
// finishes the deploy when nothing is left to do.
func (m *Machine) advance() []Action {
	var acts []Action
	failed := m.result == ResultFailed
	// Retire an old instance whenever the ready ones are enough without it.
	for !failed && len(m.old) > 0 && len(m.fresh)+len(m.old) > m.cfg.Want {
		acts = append(acts, m.retire(m.old[0])...)
		m.old = m.old[1:]
	}
	need := m.cfg.Want - len(m.fresh)
	inflight := m.starting[m.target] + len(m.gated)
	for !failed && inflight < m.cfg.Surge && inflight < need {
		acts = append(acts, Action{Kind: ActStart, Version: m.target})
		m.starting[m.target]++
		inflight++
	}
	if m.busy() {
		return acts
	}
	switch {
	case failed:
		return append(acts, m.finish(ResultFailed, m.reason, m.target)...)
	case need > 0 || len(m.old) > 0:
		return acts
	case m.phase == PhaseRollback:
		return append(acts, m.finish(ResultRolledBack, m.reason, m.cfg.From)...)
	default:
		return append(acts, m.finish(ResultSucceeded, "", m.cfg.To)...)
	}
}

// busy reports whether an answer to an earlier action is outstanding.
func (m *Machine) busy() bool {
	for _, n := range m.starting {
		if n > 0 {
			return true
		}
	}
	return len(m.gated) > 0 || len(m.retiring) > 0
}

func (m *Machine) retire(instance string) []Action {
	m.retiring[instance] = true
	return []Action{{Kind: ActRetire, Instance: instance}}
}

func (m *Machine) finish(r Result, reason, runs string) []Action {
	m.phase, m.result, m.reason = PhaseDone, r, reason
	return []Action{{Kind: ActFinish, Result: r, Reason: reason, Version: runs}}
}
