package supervise

import "time"

// CrashLoopExits is how many consecutive exits of processes that did not stay
// up for Spec.StableAfter make an instance crash looping.
const CrashLoopExits = 5

// restartPolicy decides, from the exits of one instance, how long to wait
// before starting it again and whether it is crash looping. It is pure: time
// comes in as uptimes and randomness as a function, so every case is
// testable without sleeping.
//
// The delay doubles with every consecutive short-lived exit, from min up to
// max, and is then shortened by up to 20% at random so that instances that
// crashed together do not restart in lockstep. From the CrashLoopExits-th
// consecutive exit on, the instance is crash looping and is retried at max.
// A process that stays up for stableAfter resets the count.
type restartPolicy struct {
	min, max    time.Duration
	stableAfter time.Duration
	// jitter returns a number in [0, 1); nil means no jitter.
	jitter func() float64

	failures int // consecutive exits of processes that did not stay up stableAfter
}

// exited records an exit of a process that ran for uptime (0 for a process
// that could not be started) and returns how long to wait before the next
// start and whether the instance is now crash looping.
func (p *restartPolicy) exited(uptime time.Duration) (delay time.Duration, crashLoop bool) {
	if uptime >= p.stableAfter {
		p.failures = 0
	}
	p.failures++
	if p.crashLooping() {
		return p.jittered(p.max), true
	}
	d := p.min
	for i := 1; i < p.failures && d < p.max; i++ {
		d *= 2
	}
	return p.jittered(min(d, p.max)), false
}

// stable records that the current process has stayed up for stableAfter.
func (p *restartPolicy) stable() { p.failures = 0 }

// crashLooping reports whether the last exits make a crash loop.
func (p *restartPolicy) crashLooping() bool { return p.failures >= CrashLoopExits }

func (p *restartPolicy) jittered(d time.Duration) time.Duration {
	if p.jitter == nil {
		return d
	}
	return d - time.Duration(float64(d)*0.2*p.jitter())
}
