package balance

import (
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one instance of the app, as the pool is told about it.
type Target struct {
	ID   string // unique in the pool, e.g. "web-1"
	Addr string // host:port the instance serves HTTP on; for a Remote target, the node's node-to-node listener
	Zone string // its zone; "" means the pool's zone
	Site string // its site (see Pool.SiteTransport); "" means the pool's site
	// Remote means the target is another node, which balances the request
	// over its own instances of the app: attempts go over HTTPS through
	// Options.RemoteTransport and carry AppHeader. The pool does not check
	// a Remote target's health; SetHealth sets it.
	Remote bool
	// Weight is how many instances the target stands for: for a Remote
	// target, the other node's healthy instances of the app. Its requests
	// in flight count divided by its weight when the less busy of two
	// drawn targets is chosen and when the local zone's saturation is
	// judged, so that a node with three instances takes about three times
	// the requests in flight of one instance. 0 means 1; at most maxWeight.
	// SetWeight changes it.
	Weight int
	// Healthy starts the target healthy rather than starting: it is an
	// instance that was healthy in the balancer of the process this node
	// ran before an upgrade, as HAProxy's server-state file carries
	// health across a reload. Its checks go on as usual and Fall failures
	// make it unhealthy.
	Healthy bool

	// URL, when set, makes the target a service reached by URL rather
	// than an instance: attempts and health checks use its scheme (http
	// or https) and host, and its path, if any, is put before the
	// request's ("/bucket" + "/a.png"). Addr is its host when left
	// empty. It must have no query, fragment or user info, and is not
	// modified. A URL target is never Remote.
	URL *url.URL
	// Host is the Host header of attempts and health checks sent to the
	// target; "" leaves the request's (for a health check, the target's
	// host).
	Host string
	// Priority orders targets as HAProxy's backup servers do: requests go
	// to the targets of the lowest priority that has an eligible one, so
	// targets of a higher priority only serve while every lower one is
	// down, draining or ejected. 0 is the first; negative is refused.
	Priority int
	// Transport sends the attempts and health checks of this target; nil
	// means the pool's. It must report dial failures as Options.Transport
	// does. A URL target's Transport can sign requests (S3) or hold a TLS
	// configuration of its own.
	Transport http.RoundTripper
}

// maxWeight bounds Target.Weight, so that in-flight counts times weights
// cannot overflow.
const maxWeight = 10000

// TargetStatus is a snapshot of a target, for status pages and for
// OnHealthChange.
type TargetStatus struct {
	ID, Addr, Zone string
	Site           string // the target's site; "" for the pool's own
	URL            string // the target's URL without its path; "" for an instance
	Priority       int    // see Target.Priority
	Remote         bool   // another node (see Target.Remote)
	Weight         int    // the current weight, at least 1 (see Target.Weight)
	State          State
	InFlight       int64         // requests sent whose response body is not closed yet
	Requests       uint64        // attempts sent to it
	Failures       uint64        // attempts that failed with a transport error or a 5xx
	Latency        time.Duration // peak-EWMA time to response headers; 0 before the first response
	EjectedUntil   time.Time     // end of the current ejection; zero if not ejected
	LastCheck      time.Time     // end of the last health check; zero before the first
	LastError      string        // the last failed check or attempt; "" if none yet
}

// target is the pool's live record of a Target. The fields read on the
// request path are atomics, so that selection takes no lock.
type target struct {
	Target            // immutable
	local    bool     // in the pool's zone; immutable
	checkURL string   // what a health check GETs; immutable
	base     *url.URL // URL's scheme and host, for attempts; nil for an instance

	inflight     atomic.Int64
	weight       atomic.Int64  // Target.Weight, at least 1; set by Add and SetWeight
	healthy      atomic.Bool   // mirrors health.state == StateHealthy
	draining     atomic.Bool   // set once by Drain, never cleared
	ejectedUntil atomic.Int64  // pool clock; ejected while now < ejectedUntil
	suspect      atomic.Bool   // mirrors outlier.suspect()
	latency      atomic.Uint64 // float64 bits of the peak EWMA, in ns
	requests     atomic.Uint64
	failures     atomic.Uint64

	wake  chan struct{} // capacity 1; asks the watcher to report state changes
	conns *conns        // kept-alive connections for direct requests; nil for a Remote target or a pool given a Transport

	mu        sync.Mutex // guards the fields below
	health    healthState
	outlier   outlier
	gen       uint64        // incremented by Reset; voids checks started before
	lastCheck time.Time     // end of the last health check
	lastErr   string        // last failed check or attempt
	drained   chan struct{} // closed when in-flight reaches 0 while draining

	stop func() // ends the watcher; nil if none runs; guarded by Pool.mu
}

// eligible reports whether t may get a new request at now. At panicMode,
// the end of time, no ejection lasts.
func (t *target) eligible(now int64) bool {
	return t.healthy.Load() && !t.draining.Load() && t.ejectedUntil.Load() <= now
}

// release ends one request's hold on t.
func (t *target) release() {
	if t.inflight.Add(-1) == 0 && t.draining.Load() {
		t.mu.Lock()
		if t.drained != nil {
			close(t.drained)
			t.drained = nil
		}
		t.mu.Unlock()
	}
}

// poke asks t's watcher to look at t's state again.
func (t *target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// observeLatency folds the time to response headers of one attempt into the
// peak EWMA: a slower sample is taken at once, faster ones decay into it.
// Concurrent updates may lose one another; that is fine for an estimate.
func (t *target) observeLatency(d int64) {
	t.latency.Store(math.Float64bits(peakEWMA(math.Float64frombits(t.latency.Load()), float64(d))))
}

func peakEWMA(old, sample float64) float64 {
	const alpha = 0.1
	if sample > old {
		return sample
	}
	return old + alpha*(sample-old)
}

// state returns t's State at now.
func (t *target) state(now int64) State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stateLocked(now)
}

func (t *target) stateLocked(now int64) State {
	switch {
	case t.draining.Load():
		return StateDraining
	case t.health.state != StateHealthy:
		return t.health.state
	case t.ejectedUntil.Load() > now:
		return StateEjected
	}
	return StateHealthy
}
