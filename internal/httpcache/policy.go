package httpcache

import (
	"net/http"
	"time"
)

// targetedFields are the RFC 9213 targeted cache-control fields tandem
// obeys, highest precedence first. Tandem-Cache-Control targets tandem
// alone and is removed before delivery; CDN-Cache-Control targets every
// CDN and is forwarded so that a CDN in front of tandem can obey it too.
var targetedFields = []string{"Tandem-Cache-Control", "Cdn-Cache-Control"}

// responsePolicy returns the cache directives that govern a response for
// tandem: the first targeted field with a valid, non-empty value, or else
// Cache-Control. targeted is true in the first case; Expires is then
// ignored too (RFC 9213 §2.2).
func responsePolicy(h http.Header) (cc CacheControl, targeted bool) {
	for _, f := range targetedFields {
		if v := h[f]; len(v) > 0 {
			if cc, ok := parseTargeted(v); ok && cc.Directives > 0 {
				return cc, true
			}
		}
	}
	return ParseCacheControl(h["Cache-Control"]), false
}

// heuristicallyCacheable reports the status codes that are cacheable by
// default (RFC 9110 §15.1). 206 is left out: tandem does not store
// partial content.
func heuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports the final status codes whose caching
// semantics tandem implements, for must-understand (RFC 9111 §5.2.2.3).
func understoodStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308,
		400, 403, 404, 405, 410, 414, 500, 501, 502, 503, 504:
		return true
	}
	return false
}

// storeInput is what the storability decision looks at.
type storeInput struct {
	status     int
	header     http.Header
	cc         CacheControl
	targeted   bool
	vary       Vary
	reqHasAuth bool
	route      *RouteOptions
}

// storable decides whether a response to a GET may be stored by a
// shared cache (RFC 9111 §3, §3.5). reason names the rule that refused
// it, for Cache-Status' detail.
func storable(in storeInput) (ok bool, reason string) {
	cc := in.cc
	switch {
	case in.status < 200 || in.status == 206 || in.status == 304:
		return false, "status"
	case cc.MustUnderstand && !understoodStatus(in.status):
		return false, "must-understand"
	case cc.NoStore && !(cc.MustUnderstand && understoodStatus(in.status)):
		return false, "no-store"
	case cc.Private:
		return false, "private"
	case in.reqHasAuth && !cc.Public && cc.SMaxAge == Absent && !cc.MustRevalidate:
		return false, "authorization"
	case in.vary.Star:
		return false, "vary-star"
	case len(in.header["Set-Cookie"]) > 0 && !in.route.StoreSetCookie:
		return false, "set-cookie"
	}
	explicit := cc.Public || cc.MaxAge != Absent || cc.SMaxAge != Absent ||
		(!in.targeted && len(in.header["Expires"]) > 0)
	if !explicit && !heuristicallyCacheable(in.status) {
		return false, "not-cacheable"
	}
	hasValidator := in.header.Get("Etag") != "" || in.header.Get("Last-Modified") != ""
	if cc.NoCache && !hasValidator {
		return false, "no-cache"
	}
	return true, ""
}

// heuristics are the route settings for responses without explicit
// freshness.
type heuristics struct {
	max        time.Duration // cap on the Last-Modified heuristic
	defaultTTL time.Duration // for cacheable responses without Last-Modified
}

// freshnessLifetime computes a stored response's freshness lifetime for
// a shared cache (RFC 9111 §4.2.1). date is the Date field's value, or
// the response time when it has none.
func freshnessLifetime(status int, h http.Header, cc CacheControl, targeted bool, date time.Time, hs heuristics) time.Duration {
	switch {
	case cc.SMaxAge != Absent:
		return time.Duration(cc.SMaxAge) * time.Second
	case cc.MaxAge != Absent:
		return time.Duration(cc.MaxAge) * time.Second
	}
	if exp := h["Expires"]; !targeted && len(exp) > 0 {
		// Anything but one valid HTTP-date means "already expired"
		// (RFC 9111 §5.3): two lines, "0", a lenient form.
		if len(exp) != 1 {
			return 0
		}
		t, ok := ParseHTTPDate(trimOWS(exp[0]), date)
		if !ok || !t.After(date) {
			return 0
		}
		return t.Sub(date)
	}
	if !heuristicallyCacheable(status) && !cc.Public {
		return 0
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil && lm.Before(date) {
		f := date.Sub(lm) / 10
		if hs.max > 0 && f > hs.max {
			f = hs.max
		}
		return f
	}
	return hs.defaultTTL
}

// initialAge is corrected_initial_age of RFC 9111 §4.2.3.
func initialAge(h http.Header, date, reqTime, respTime time.Time) time.Duration {
	apparent := max(0, respTime.Sub(date))
	var ageValue time.Duration
	if v := h["Age"]; len(v) > 0 {
		if n, ok := parseDelta(trimOWS(v[0])); ok {
			ageValue = time.Duration(n) * time.Second
		}
	}
	corrected := ageValue + max(0, respTime.Sub(reqTime))
	return max(apparent, corrected)
}
