package uptime

import "time"

// staleIntervals is how many check intervals a node's verdict counts for:
// a node that has not reported for longer is left out of the quorum.
const staleIntervals = 3

// Action is something an Evaluator asks its driver to do: an *Alert or
// a *Renotify.
type Action interface{ action() }

// Alert reports a change of a check's cluster state. The first change
// from Unknown to Up raises none.
type Alert struct {
	Check    string
	From, To State
	// Since is when the check entered To: the Step that decided it.
	Since time.Time
	// FromSince is when the check entered From; zero for Unknown.
	FromSince time.Time
	// Nodes are the verdicts that counted, by node.
	Nodes map[string]Verdict
}

// Renotify repeats the alert of a check that is still down.
type Renotify struct {
	Check string
	Since time.Time // when the check went down
	At    time.Time // the Step that decided to repeat
	Nodes map[string]Verdict
}

func (*Alert) action()    {}
func (*Renotify) action() {}

// Evaluator decides one check's cluster state from the latest verdicts of
// the nodes, with a quorum rule: the check is Down when a majority of the
// nodes that reported within the last three intervals say Down, Up when a
// majority say Up, and otherwise keeps its state. A node that says
// Unknown, having too few probes yet, counts among the nodes that
// reported but not towards either majority. The Evaluator reads no clock
// and starts no goroutine: its caller passes the time to Step.
type Evaluator struct {
	check    string
	interval time.Duration
	renotify time.Duration

	state    State
	since    time.Time // when state began; zero while Unknown
	notified time.Time // last Alert or Renotify of the current Down
}

// NewEvaluator returns an Evaluator of check, whose probes run every
// interval, repeating the alert of a check still down every renotify
// (0 never). Its state is Unknown.
func NewEvaluator(check string, interval, renotify time.Duration) *Evaluator {
	return &Evaluator{check: check, interval: interval, renotify: renotify}
}

// State returns the check's cluster state and when it began (zero while
// Unknown).
func (e *Evaluator) State() (State, time.Time) { return e.state, e.since }

// Step evaluates the verdicts at now and returns the actions to take.
// Verdicts of other checks are ignored, as are verdicts older than three
// intervals; verdicts should hold at most one per node (the latest).
func (e *Evaluator) Step(now time.Time, verdicts []Verdict) []Action {
	nodes := make(map[string]Verdict)
	up, down := 0, 0
	for _, v := range verdicts {
		if v.Check != e.check || now.Sub(v.At) > staleIntervals*e.interval {
			continue
		}
		nodes[v.Node] = v
		switch v.State {
		case Up:
			up++
		case Down:
			down++
		}
	}
	next := e.state
	switch n := len(nodes); {
	case 2*down > n:
		next = Down
	case 2*up > n:
		next = Up
	}
	if next != e.state {
		return e.transition(now, next, nodes)
	}
	if e.state == Down && e.renotify > 0 && now.Sub(e.notified) >= e.renotify {
		e.notified = now
		return []Action{&Renotify{Check: e.check, Since: e.since, At: now, Nodes: nodes}}
	}
	return nil
}

// transition moves to state next at now.
func (e *Evaluator) transition(now time.Time, next State, nodes map[string]Verdict) []Action {
	from, fromSince := e.state, e.since
	e.state, e.since = next, now
	if next == Down {
		e.notified = now
	}
	if from == Unknown && next == Up {
		return nil
	}
	return []Action{&Alert{Check: e.check, From: from, To: next, Since: now, FromSince: fromSince, Nodes: nodes}}
}
