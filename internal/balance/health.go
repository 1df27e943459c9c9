package balance

// healthState is the active-health state machine of one target, in the
// rise/fall style of HAProxy: a pure function of the check results fed to
// it. A target starts in StateStarting and becomes StateHealthy after rise
// consecutive passes; a healthy target becomes StateUnhealthy after fall
// consecutive failures, and healthy again after rise passes. Failures while
// starting keep it starting: an instance still booting is not "unhealthy".
//
// The zero value is not usable; use newHealthState.
type healthState struct {
	rise, fall int
	state      State // StateStarting, StateHealthy or StateUnhealthy
	passes     int   // consecutive passes while not healthy
	fails      int   // consecutive failures
}

func newHealthState(rise, fall int) healthState {
	return healthState{rise: rise, fall: fall, state: StateStarting}
}

// observe feeds one check result and reports whether the state changed.
func (h *healthState) observe(pass bool) (changed bool) {
	if pass {
		h.fails = 0
		if h.state == StateHealthy {
			return false
		}
		h.passes++
		if h.passes < h.rise {
			return false
		}
		h.state, h.passes = StateHealthy, 0
		return true
	}
	h.passes = 0
	h.fails++
	if h.state != StateHealthy || h.fails < h.fall {
		return false
	}
	h.state = StateUnhealthy
	return true
}

// markUnhealthy makes the target unhealthy without checks; used for Remote
// targets, whose health the cluster reports.
func (h *healthState) markUnhealthy() {
	h.state, h.passes, h.fails = StateUnhealthy, 0, 0
}

// reset starts over, as for a target just added.
func (h *healthState) reset() {
	*h = newHealthState(h.rise, h.fall)
}

// markHealthy makes the target healthy without checks; used when active
// checks are disabled.
func (h *healthState) markHealthy() {
	h.state, h.passes, h.fails = StateHealthy, 0, 0
}
