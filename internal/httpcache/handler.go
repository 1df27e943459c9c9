package httpcache

import (
	"fmt"
	"net/http"
	"strings"
)

// routeHandler is the http.Handler of one route: the cache in front of
// the route's upstream handler.
type routeHandler struct {
	c             *Cache
	o             RouteOptions
	next          http.Handler
	keyer         *keyer
	bypassCookies globs
	sel           selector
	hs            heuristics
	skip          map[string]bool // fields removed before delivery
	clientCC      []string        // Cache-Control for clients of shared responses (clipped), or nil
}

// Handler returns the handler that serves one route through the cache:
// next is the route's upstream (a reverse proxy); it is called for misses,
// revalidations and passes, possibly from a goroutine of the cache and
// with a context detached from the client's, since a coalesced fetch
// outlives the client that started it.
func (c *Cache) Handler(o RouteOptions, next http.Handler) (http.Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("cache handler: %w", err)
	}
	h := &routeHandler{
		c: c, o: o, next: next, keyer: newKeyer(o.Key),
		bypassCookies: newGlobs(o.BypassCookies), sel: selector{cookies: newGlobs(o.VaryCookies)},
		hs:   o.heuristics(),
		skip: map[string]bool{"Tandem-Cache-Control": true},
	}
	if o.ClientCacheControl != "" {
		h.clientCC = []string{o.ClientCacheControl}
	}
	if !o.KeepTagHeaders {
		for _, t := range c.tagHeaders {
			h.skip[http.CanonicalHeaderKey(t.Name)] = true
		}
	}
	c.registerKeyer(h.keyer)
	return h, nil
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.serveOther(w, r)
		return
	}
	cs := &cacheStatus{}
	if h.o.Bypass {
		h.pass(w, r, &cacheStatus{fwd: "bypass"})
		return
	}
	if name, ok := h.bypassCookie(r); ok {
		h.pass(w, r, &cacheStatus{fwd: "bypass", detail: "cookie " + name})
		return
	}
	var req CacheControl
	if v := r.Header["Cache-Control"]; len(v) > 0 {
		req = ParseCacheControl(v)
		if h.o.IgnoreClientNoCache {
			req.NoCache, req.MaxAge = false, Absent
		}
	} else {
		req = CacheControl{MaxAge: Absent, SMaxAge: Absent, MaxStale: Absent, MinFresh: Absent,
			StaleWhileRevalidate: Absent, StaleIfError: Absent}
	}
	key := h.keyer.requestKey(r)
	now := h.c.now()
	sel := h.sel.bind(r.Header)
	res, e := h.c.lookup(key, r.Header, sel)
	if e != nil {
		v, fwd := e.verdict(now, req)
		switch v {
		case serveFresh:
			cs.hit = true
			cs.setTTL(e.ttl(now))
			if h.serveEntry(w, r, e, cs, false, now) {
				h.c.stats.hits.Add(1)
				return
			}
		case serveStale, serveStaleRevalidate:
			cs.hit = true
			cs.setTTL(e.ttl(now))
			cs.detail = "max-stale"
			if v == serveStaleRevalidate {
				cs.detail = "stale-while-revalidate"
			}
			if h.serveEntry(w, r, e, cs, false, now) {
				h.c.stats.staleHits.Add(1)
				h.c.stats.stale.Add(1)
				if v == serveStaleRevalidate {
					h.revalidate(key, r, req, e)
				}
				return
			}
		case forward:
			if req.OnlyIfCached {
				h.gatewayTimeout(w, &cacheStatus{fwd: fwd, detail: "only-if-cached"})
				return
			}
			cs.fwd = fwd
			h.forward(w, r, key, req, e, cs)
			return
		}
		*cs = cacheStatus{} // the body was gone: a miss after all
	}
	switch {
	case req.OnlyIfCached:
		h.gatewayTimeout(w, &cacheStatus{fwd: "uri-miss", detail: "only-if-cached"})
	case req.NoStore:
		h.pass(w, r, &cacheStatus{fwd: "request", detail: "no-store"})
	case res.passing(r.Header, sel, now):
		h.c.stats.passes.Add(1)
		h.fetchAlone(w, r, key, req, nil, &cacheStatus{fwd: "bypass", detail: "hit-for-pass"})
	default:
		cs.fwd = "uri-miss"
		if res != nil && len(res.entries) > 0 {
			cs.fwd = "vary-miss"
		}
		h.forward(w, r, key, req, nil, cs)
	}
}

// bypassCookie returns the first cookie whose name the route bypasses.
func (h *routeHandler) bypassCookie(r *http.Request) (string, bool) {
	if len(h.bypassCookies) == 0 {
		return "", false
	}
	for _, line := range r.Header["Cookie"] {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(trimOWS(part), "=")
			if name != "" && h.bypassCookies.match(name) {
				return name, true
			}
		}
	}
	return "", false
}

// newFlight makes the flight for a fetch of key for request r.
func (h *routeHandler) newFlight(key string, r *http.Request, req CacheControl, stale *entry) *flight {
	// The fetch may outlive the handler call: it gets its own copy.
	return &flight{
		key: key, route: h, req: r.Clone(r.Context()), reqCC: req, stale: stale,
		since: h.c.plog.current(), sp: newSpool(), ready: make(chan struct{}), interim: make(chan interimResponse, maxInterim),
	}
}

// forward answers from a fetch of key, joining one in flight if there is
// one (request coalescing).
func (h *routeHandler) forward(w http.ResponseWriter, r *http.Request, key string, req CacheControl, stale *entry, cs *cacheStatus) {
	f, rd, leader := h.c.flights.join(key, h.c.unpurged, func() *flight { return h.newFlight(key, r, req, stale) })
	if leader {
		h.countForward(stale)
		h.c.start(f)
	} else {
		h.c.stats.coalesced.Add(1)
		cs.collapsed = true
	}
	if h.serveFlight(w, r, f, rd, leader, cs) {
		return
	}
	// The response was not for this request (not shareable, or another
	// variant): fetch on its own.
	cs.collapsed = false
	h.fetchAlone(w, r, key, req, stale, cs)
}

func (h *routeHandler) countForward(stale *entry) {
	if stale == nil {
		h.c.stats.misses.Add(1)
	}
}

// fetchAlone answers from a fetch of its own, not coalesced.
func (h *routeHandler) fetchAlone(w http.ResponseWriter, r *http.Request, key string, req CacheControl, stale *entry, cs *cacheStatus) {
	f := h.newFlight(key, r, req, stale)
	rd, _ := f.sp.newReader()
	h.countForward(stale)
	h.c.start(f)
	h.serveFlight(w, r, f, rd, true, cs)
}

// revalidate starts one background revalidation of e unless a fetch of
// key is already under way.
func (h *routeHandler) revalidate(key string, r *http.Request, req CacheControl, e *entry) {
	f, ok := h.c.flights.startIdle(key, h.c.unpurged, func() *flight { return h.newFlight(key, r, req, e) })
	if ok {
		h.c.start(f)
	}
}

// gatewayTimeout answers only-if-cached requests that nothing stored
// satisfies (RFC 9111 §5.2.1.7).
func (h *routeHandler) gatewayTimeout(w http.ResponseWriter, cs *cacheStatus) {
	w.Header().Set("Cache-Status", cs.format(h.c.name))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusGatewayTimeout)
}
