package balance

// outcome is the result of one proxied attempt, as passive health sees it.
type outcome uint8

const (
	outcomeOK    outcome = iota // a response below 500
	outcomeError                // a transport failure: refused, reset, timeout
	outcome5xx                  // a 5xx response
)

// outlier is the passive-health state machine of one target: it counts
// consecutive failures of proxied attempts and decides ejections and their
// back-off. Time is an int64 of nanoseconds on the pool's monotonic clock,
// passed in, so the machine is pure.
//
// The zero value never ejects; use newOutlier.
type outlier struct {
	maxErrors, max5xx int   // thresholds; <= 0 disables
	base, max         int64 // ejection period bounds

	errors, fives int   // consecutive transport failures and 5xx responses
	level         int   // ejections in the current back-off series
	until         int64 // end of the current or last ejection; 0 if none
	probation     bool  // the first result after until decides
}

func newOutlier(p PassiveHealth) outlier {
	return outlier{
		maxErrors: p.ConsecutiveErrors,
		max5xx:    p.Consecutive5xx,
		base:      int64(p.BaseEjection),
		max:       int64(p.MaxEjection),
	}
}

// observe feeds the outcome of one attempt finished at now. When it starts
// an ejection it returns the ejection's end and true.
func (o *outlier) observe(out outcome, now int64) (until int64, ejected bool) {
	if now < o.until {
		// Ejected: results of attempts sent before the ejection, or in
		// panic mode, change nothing.
		return 0, false
	}
	if o.probation {
		o.probation = false
		if out != outcomeOK {
			return o.eject(now)
		}
	}
	switch out {
	case outcomeOK:
		o.errors, o.fives = 0, 0
	case outcomeError:
		o.errors++
		if o.maxErrors > 0 && o.errors >= o.maxErrors {
			return o.eject(now)
		}
	case outcome5xx:
		o.errors = 0
		o.fives++
		if o.max5xx > 0 && o.fives >= o.max5xx {
			return o.eject(now)
		}
	}
	return 0, false
}

func (o *outlier) eject(now int64) (int64, bool) {
	if o.until != 0 && now-o.until >= o.max {
		o.level = 0 // quiet for long enough: start the back-off over
	}
	d := o.base
	for i := 0; i < o.level && d < o.max; i++ {
		d *= 2
	}
	d = min(d, o.max)
	o.level = min(o.level+1, 64)
	o.until, o.probation = now+d, true
	o.errors, o.fives = 0, 0
	return o.until, true
}

// suspect reports whether a success would change the machine's state; while
// it is false, successes need not be fed to it.
func (o *outlier) suspect() bool {
	return o.errors > 0 || o.fives > 0 || o.probation
}
