package sitedns

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter defaults: how many client networks are tracked at once, and how
// a query over the limit is treated.
const (
	maxTracked = 100_000
	// slip: one query in slip over the limit gets an empty, truncated
	// answer (as BIND's response rate limiting does), the others none. A
	// real resolver whose network shares the limit with an attacker's
	// spoofed queries then still gets through over TCP, which cannot be
	// spoofed, while a spoofed victim receives no more bytes than were
	// sent in its name.
	slip = 2
)

// verdict is what to do with a query over UDP.
type verdict uint8

const (
	allow    verdict = iota
	truncate         // answer empty with TC set
	drop             // answer nothing
)

// limiter bounds the answers sent over UDP per client network (an IPv4
// /24, an IPv6 /56: one site's resolvers, or what an attacker can spoof
// in one victim's name) with a token bucket each: rate answers a second,
// bursts of up to rate. Past maxTracked networks, the networks not yet
// tracked share one bucket, so its memory stays bounded whatever the
// sources.
type limiter struct {
	rate float64
	now  func() time.Time

	mu       sync.Mutex // guards the fields below
	buckets  map[netip.Prefix]*bucket
	overflow bucket    // shared by the networks past maxTracked
	over     uint64    // queries over the limit, for slip
	swept    time.Time // the last sweep, at most one a second
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiter returns a limiter of rate answers per second per network; nil
// (no limit) when rate <= 0. now nil means time.Now.
func newLimiter(rate int, now func() time.Time) *limiter {
	if rate <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &limiter{rate: float64(rate), now: now, buckets: make(map[netip.Prefix]*bucket), overflow: bucket{tokens: float64(rate)}}
}

// check takes a token for a query from addr and says what to do with it.
// A nil limiter allows everything.
func (l *limiter) check(addr netip.Addr) verdict {
	if l == nil {
		return allow
	}
	key := network(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxTracked && now.Sub(l.swept) >= time.Second {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= maxTracked {
			b = &l.overflow
		} else {
			b = &bucket{tokens: l.rate, last: now}
			l.buckets[key] = b
		}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.rate, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return allow
	}
	l.over++
	if l.over%slip == 0 {
		return truncate
	}
	return drop
}

// sweepLocked forgets the networks whose bucket has refilled: they have
// been quiet for a second or more, and start anew full.
func (l *limiter) sweepLocked(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= time.Second {
			delete(l.buckets, k)
		}
	}
}

// network is the client network addr is counted in.
func network(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 56
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits) // an invalid address gives the zero prefix: one shared bucket
	return p
}
