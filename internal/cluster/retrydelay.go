package cluster

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	// retryMin and retryMax bound the wait between attempts to reach etcd
	// after a failure.
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
	// opTimeout bounds one request to etcd, so that a loop that must keep
	// going (re-register, re-watch) is not stuck on an unreachable cluster:
	// the client waits for a connection rather than failing fast.
	opTimeout = 3 * time.Second
)

// retryDelay is an exponential back-off with jitter. The zero value
// starts at retryMin.
type retryDelay struct {
	next time.Duration
}

// step returns the next delay and doubles the one after, up to retryMax.
func (r *retryDelay) step() time.Duration {
	d := max(r.next, retryMin)
	r.next = min(2*d, retryMax)
	// Jitter of up to a quarter, so nodes that lost etcd together do not
	// come back in lockstep.
	return d + rand.N(d/4+1)
}

// wait sleeps for the next delay. It returns false if ctx ended first.
func (r *retryDelay) wait(ctx context.Context) bool {
	t := time.NewTimer(r.step())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reset makes the next wait short again, after a success.
func (r *retryDelay) reset() { r.next = 0 }
