package httpcache

import "time"

// verdict is what a lookup may do with a selected stored response.
type verdict int

const (
	// serveFresh: the response is fresh enough for the request.
	serveFresh verdict = iota
	// serveStale: stale, but the request's max-stale accepts it.
	serveStale
	// serveStaleRevalidate: stale, served at once while one background
	// request revalidates it (stale-while-revalidate, soft purge).
	serveStaleRevalidate
	// forward: the response must be validated (or replaced) first.
	forward
)

// mayServeStale reports whether the response's own directives allow
// serving it stale at all (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8).
func (e *entry) mayServeStale() bool {
	return !e.cc.MustRevalidate && !e.cc.ProxyRevalidate && !e.cc.NoCache
}

// verdict decides how a stored response may satisfy a request with the
// directives req at time now (RFC 9111 §4, §4.2, §5.2.1; RFC 5861).
// fwd is the Cache-Status forward reason when the verdict is forward:
// "request" when the client asked for validation, else "stale".
func (e *entry) verdict(now time.Time, req CacheControl) (v verdict, fwd string) {
	if req.NoCache {
		return forward, "request"
	}
	if e.cc.NoCache {
		return forward, "stale"
	}
	age := e.currentAge(now)
	// max-age=0 is how clients ask for validation, whatever the age.
	if req.MaxAge != Absent && (req.MaxAge == 0 || age > time.Duration(req.MaxAge)*time.Second) {
		return forward, "request"
	}
	fresh := age < e.lifetime
	soft := e.soft.Load()
	if fresh && !soft {
		if req.MinFresh != Absent && e.lifetime-age < time.Duration(req.MinFresh)*time.Second {
			return forward, "request"
		}
		return serveFresh, ""
	}
	if !e.mayServeStale() {
		return forward, "stale"
	}
	staleness := age - e.lifetime
	// s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10): the client
	// cannot widen it with max-stale, but the origin's own
	// stale-while-revalidate still applies.
	if e.cc.SMaxAge == Absent && !soft && (req.MaxStaleAny ||
		req.MaxStale != Absent && staleness <= time.Duration(req.MaxStale)*time.Second) {
		return serveStale, ""
	}
	if req.MinFresh != Absent {
		return forward, "request"
	}
	if soft && fresh {
		return serveStaleRevalidate, ""
	}
	if e.cc.StaleWhileRevalidate != Absent && staleness <= time.Duration(e.cc.StaleWhileRevalidate)*time.Second {
		return serveStaleRevalidate, ""
	}
	return forward, "stale"
}

// mayServeOnError reports whether the stored response may be served in
// place of an origin error (5xx or no answer) at time now: while fresh
// (validated on the client's request), or stale by stale-if-error from
// the response or the request (RFC 5861 §4) or the route's grace. Stale
// or soft-purged, it is never allowed when the response demands
// validation, s-maxage included: it implies proxy-revalidate (RFC 9111
// §5.2.2.10).
func (e *entry) mayServeOnError(now time.Time, req CacheControl, grace time.Duration) bool {
	if req.NoCache || e.cc.NoCache {
		return false
	}
	staleness := e.currentAge(now) - e.lifetime
	soft := e.soft.Load()
	if staleness <= 0 && !soft {
		return true // not stale at all
	}
	if !e.mayServeStale() || e.cc.SMaxAge != Absent {
		return false
	}
	switch {
	case staleness <= 0:
		return true // fresh but soft-purged
	case e.cc.StaleIfError != Absent && staleness <= time.Duration(e.cc.StaleIfError)*time.Second:
		return true
	case req.StaleIfError != Absent && staleness <= time.Duration(req.StaleIfError)*time.Second:
		return true
	}
	return grace > 0 && staleness <= grace
}

// ttl is the remaining freshness, negative when stale (Cache-Status ttl).
func (e *entry) ttl(now time.Time) time.Duration {
	if e.soft.Load() {
		return 0 // soft-purged: stale whatever its lifetime said
	}
	return e.lifetime - e.currentAge(now)
}
