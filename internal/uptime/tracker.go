package uptime

// Tracker is one node's rise/fall view of one check: the check is down
// for the node after Fall failed probes in a row and up after Rise passed
// ones; until either happens it is Unknown. The zero value, and Rise or
// Fall below 1, count as 1.
type Tracker struct {
	Rise, Fall int

	state  State
	passes int // passed probes in a row
	fails  int // failed probes in a row
}

// Observe records one probe's result and returns the state after it.
func (t *Tracker) Observe(ok bool) State {
	rise, fall := max(t.Rise, 1), max(t.Fall, 1)
	if ok {
		t.passes, t.fails = min(t.passes+1, rise), 0
		if t.passes == rise {
			t.state = Up
		}
	} else {
		t.passes, t.fails = 0, min(t.fails+1, fall)
		if t.fails == fall {
			t.state = Down
		}
	}
	return t.state
}

// State is the state after the probes observed so far.
func (t *Tracker) State() State { return t.state }
