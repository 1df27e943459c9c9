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
	detail    string      // why it is not stored
	ttl       time.Duration
}

func (f *flight) newEntry(h http.Header) *entry {
	e := newEntry(f.key, f.status, h, f.reqTime, f.respTime)
	e.setFreshness(f.route.hs)
	return e
}

// varyMatches reports whether r selects the same response as the
// flight's request.
func (f *flight) varyMatches(r *http.Request) bool {
	for _, v := range f.vary {
		if normalizeFieldValue(r.Header[v]) != normalizeFieldValue(f.req.Header[v]) {
			return false
		}
	}
	return true
}

// flightGroup coalesces concurrent fetches of one key.
type flightGroup struct {
	mu sync.Mutex // guards m
	m  map[string]*flight
}

// join returns a flight for key with a reader registered on it: an
// existing one that can still be read from the start, or a new one made
// by mk, registered, that the caller (the leader) must start.
func (g *flightGroup) join(key string, mk func() *flight) (f *flight, rd *spoolReader, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil {
		if rd, ok := f.sp.newReader(); ok {
			return f, rd, false
		}
	}
	f = mk()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	g.m[key] = f
	rd, _ = f.sp.newReader()
	return f, rd, true
}

// startIdle registers a flight made by mk unless one for key exists; it
// reports whether the caller must start it.
func (g *flightGroup) startIdle(key string, mk func() *flight) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[key] != nil {
		return nil, false
	}
	f := mk()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	g.m[key] = f
	return f, true
}

// leave unregisters f, so that later requests do not join it.
func (g *flightGroup) leave(f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[f.key] == f {
		delete(g.m, f.key)
	}
}
