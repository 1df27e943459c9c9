package httpcache

import (
	"net/http"
	"strings"
)

// Outcomes of a request through the cache, in one word, as access logs
// and metrics want them (what Varnish and CDN logs call HIT, MISS...).
const (
	OutcomeHit         = "hit"         // served from storage while fresh; also a request that waited for another's fetch
	OutcomeStale       = "stale"       // served stale (stale-while-revalidate, max-stale, grace, stale-if-error)
	OutcomeMiss        = "miss"        // fetched from the app: nothing usable was stored
	OutcomeRevalidated = "revalidated" // a stored response the app confirmed (304) was served
	OutcomePass        = "pass"        // not cacheable: bypass, unsafe method, client no-store
)

// Outcome reads this cache's member of a response's Cache-Status field
// (RFC 9211) and says in one word what the cache did: one of the Outcome
// constants, or "" when the response did not pass through this cache.
// Members written by other caches (the app's own, a CDN's) are ignored.
func (c *Cache) Outcome(h http.Header) string {
	return outcomeOf(h["Cache-Status"], c.name)
}

// outcomeOf is Outcome over the field's lines, for the cache named name.
func outcomeOf(lines []string, name string) string {
	member := ""
	for _, line := range lines {
		for m := range strings.SplitSeq(line, ",") {
			id, _, _ := strings.Cut(m, ";")
			if trimOWS(id) == name {
				member = m // the last one is this response's
			}
		}
	}
	if member == "" {
		return ""
	}
	var hit, collapsed, negTTL bool
	var fwd, fwdStatus, detail string
	_, params, _ := strings.Cut(member, ";")
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(trimOWS(p), "=")
		switch k {
		case "hit":
			hit = true
		case "collapsed":
			collapsed = true
		case "fwd":
			fwd = v
		case "fwd-status":
			fwdStatus = v
		case "ttl":
			negTTL = strings.HasPrefix(v, "-")
		case "detail":
			detail = strings.Trim(v, `"`)
		}
	}
	switch {
	case hit && (negTTL || detail == "max-stale" || detail == "stale-while-revalidate"):
		return OutcomeStale
	case hit, collapsed && fwdStatus != "304":
		return OutcomeHit
	case fwd == "bypass" || fwd == "method" || detail == "no-store":
		return OutcomePass
	case detail == "stale-if-error":
		return OutcomeStale
	case fwdStatus == "304" && (fwd == "stale" || fwd == "request"):
		return OutcomeRevalidated
	case fwd != "":
		return OutcomeMiss
	}
	return ""
}
