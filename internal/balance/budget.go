package balance

import (
	"sync"
	"sync/atomic"
)

// budgetWindow is how many seconds of MinPerSecond a budget saves up.
const budgetWindow = 10

// budget is the retry budget of a pool: a token bucket in the style of
// Finagle's RetryBudget that keeps retries a bounded fraction of requests,
// so that a failing pool is not buried under its own retries. Time is an
// int64 of nanoseconds on the pool's monotonic clock, passed in.
//
// Deposits are one atomic add on the request path; the bucket is settled
// under mu only when a retry asks for a token.
type budget struct {
	ratio    float64 // tokens per request
	perSec   float64 // tokens per second, regardless of traffic
	capacity float64 // tokens saved up at most

	pending atomic.Int64 // requests not yet credited to tokens

	mu     sync.Mutex // guards the fields below
	tokens float64
	last   int64 // when tokens were last credited with perSec
}

// newBudget returns a budget; a negative ratio or perSec means none.
func newBudget(ratio, perSec float64, now int64) *budget {
	ratio, perSec = max(ratio, 0), max(perSec, 0)
	capacity := max(budgetWindow*perSec, 10)
	return &budget{
		ratio:    ratio,
		perSec:   perSec,
		capacity: capacity,
		tokens:   min(budgetWindow*perSec, capacity),
		last:     now,
	}
}

// deposit credits one request.
func (b *budget) deposit() {
	if b.ratio > 0 {
		b.pending.Add(1)
	}
}

// withdraw takes a token for one retry at now and reports whether there was one.
func (b *budget) withdraw(now int64) bool {
	n := b.pending.Swap(0)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens += float64(n) * b.ratio
	if now > b.last {
		b.tokens += float64(now-b.last) / 1e9 * b.perSec
		b.last = now
	}
	b.tokens = min(b.tokens, b.capacity)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
