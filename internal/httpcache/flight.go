package httpcache

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// flightKind is how a fetch ended up answering its readers.
type flightKind int

const (
	// flightResponse: a response streamed through the spool.
	flightResponse flightKind = iota
	// flightNotModified: the origin answered 304; entry is the stored
	// response with its header updated.
	flightNotModified
	// flightStale: the origin failed; entry is the stale response that
	// stale-if-error or the route's grace allow serving instead.
	flightStale
)

// flight is one fetch from the origin and the requests waiting for it.
// The fields after ready are written by the fetch before it closes
// ready, and only read after.
type flight struct {
	key   string
	route *routeHandler
	req   *http.Request // the request the fetch is made for
	reqCC CacheControl  // its directives
	stale *entry        // the stored response being revalidated, or nil
	since uint64        // purge generation when the fetch started
	sp    *spool
	ready chan struct{}
	// interim carries the 1xx responses (103 Early Hints) that came
	// before the final header, for the request that started the fetch;
	// nobody reads them for a fetch without one (a revalidation in the
	// background), and past its room they are dropped.
	interim chan interimResponse

	reqTime   time.Time
	respTime  time.Time
	kind      flightKind
	status    int
	header    http.Header // as received, hop-by-hop fields removed
	shared    http.Header // what other requests and the store get
	shareable bool        // the response may answer other requests
	storing   atomic.Bool // the response is being stored (may turn false while the body arrives)
	vary      []string    // fields selecting it: Vary plus route key headers
	entry     *entry      // for flightNotModified and flightStale
	tags      []string    // the response's tags, for purges
	detail    string      // why it is not stored
	ttl       time.Duration
}

// interimResponse is a 1xx response of the upstream.
type interimResponse struct {
	code   int
	header http.Header
}

// maxInterim is how many 1xx responses a fetch keeps for its client.
const maxInterim = 4

// readyTags returns the response's tags once its header has arrived;
// known is false before.
func (f *flight) readyTags() (tags []string, known bool) {
	select {
	case <-f.ready:
		return f.tags, true
	default:
		return nil, false
	}
}

func (f *flight) newEntry(h http.Header) *entry {
	e := newEntry(f.key, f.status, h, f.reqTime, f.respTime)
	e.setFreshness(f.route.hs)
	return e
}

// varyMatches reports whether r selects the same response as the
// flight's request.
func (f *flight) varyMatches(r *http.Request) bool {
	sel := f.route.sel
	for _, v := range f.vary {
		if sel.value(r.Header, v) != sel.value(f.req.Header, v) {
			return false
		}
	}
	return true
}

// unpurged reports whether no purge since f's fetch started selects its
// response, so that a request starting now may be given it. Before the
// header has arrived, the response's tags are unknown and any tag purge
// of its key counts.
func (c *Cache) unpurged(f *flight) bool {
	tags, known := f.readyTags()
	purged, _ := c.plog.purgedSince(f.since, f.key, tags, known)
	return !purged
}

// flightGroup coalesces concurrent fetches of one key.
type flightGroup struct {
	mu sync.Mutex // guards m
	m  map[string]*flight
}

// join returns a flight for key with a reader registered on it: an
// existing one that can still be read from the start and that current
// accepts, or a new one made by mk, registered, that the caller (the
// leader) must start. current is called without the group's lock held.
func (g *flightGroup) join(key string, current func(*flight) bool, mk func() *flight) (f *flight, rd *spoolReader, leader bool) {
	refused := g.refused(key, current)
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil && f != refused {
		if rd, ok := f.sp.newReader(); ok {
			return f, rd, false
		}
	}
	f = g.addLocked(key, mk)
	rd, _ = f.sp.newReader()
	return f, rd, true
}

// startIdle registers a flight made by mk unless one for key that
// current accepts exists; it reports whether the caller must start it.
func (g *flightGroup) startIdle(key string, current func(*flight) bool, mk func() *flight) (*flight, bool) {
	refused := g.refused(key, current)
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil && f != refused {
		return nil, false
	}
	return g.addLocked(key, mk), true
}

// refused checks the flight registered for key, if any, with current,
// outside the lock, and returns it if current refuses it. A flight
// registered after this check started after the request that checks, so
// current would accept it: only the one refused here must be replaced.
func (g *flightGroup) refused(key string, current func(*flight) bool) *flight {
	g.mu.Lock()
	f := g.m[key]
	g.mu.Unlock()
	if f != nil && !current(f) {
		return f
	}
	return nil
}

func (g *flightGroup) addLocked(key string, mk func() *flight) *flight {
	f := mk()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	g.m[key] = f
	return f
}

// leave unregisters f, so that later requests do not join it.
func (g *flightGroup) leave(f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[f.key] == f {
		delete(g.m, f.key)
	}
}
