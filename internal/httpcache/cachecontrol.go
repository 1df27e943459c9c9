package httpcache

import (
	"strconv"
	"strings"
)

// Absent is the value of a [CacheControl] delta-seconds directive that
// the field does not contain.
const Absent = -1

// maxDelta is the value a delta-seconds larger than a cache can represent
// is taken to be (RFC 9111 §1.2.2).
const maxDelta = 1 << 31

// CacheControl is a parsed Cache-Control field, request or response (or a
// targeted field of RFC 9213 such as CDN-Cache-Control). The delta-seconds
// directives hold seconds, or [Absent]. The zero value is not "empty":
// use [ParseCacheControl] of nothing for that.
type CacheControl struct {
	MaxAge               int64 // max-age; a malformed value is 0 (stale)
	SMaxAge              int64 // s-maxage; a malformed value is 0 (stale)
	MaxStale             int64 // max-stale=N (request)
	MaxStaleAny          bool  // max-stale without a value: any staleness
	MinFresh             int64 // min-fresh (request)
	StaleWhileRevalidate int64 // stale-while-revalidate (RFC 5861)
	StaleIfError         int64 // stale-if-error (RFC 5861)

	NoStore         bool
	NoCache         bool     // unqualified no-cache
	NoCacheFields   []string // no-cache="a, b": fields not reused without validation
	Private         bool     // unqualified private
	PrivateFields   []string // private="a, b": fields a shared cache must not store
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	MustUnderstand  bool
	NoTransform     bool
	OnlyIfCached    bool
	Immutable       bool

	// Directives counts the directives found; a targeted field with none
	// is treated as absent (RFC 9213 §2.2).
	Directives int
}

// ParseCacheControl parses all lines of a Cache-Control (or targeted)
// field. It never fails: unknown directives are ignored, the first
// occurrence of a duplicated directive wins (RFC 9111 §4.2.1), and
// a malformed max-age or s-maxage makes the response stale.
func ParseCacheControl(values []string) CacheControl {
	cc := CacheControl{
		MaxAge: Absent, SMaxAge: Absent, MaxStale: Absent, MinFresh: Absent,
		StaleWhileRevalidate: Absent, StaleIfError: Absent,
	}
	splitList(values, func(m string) bool {
		name, arg, hasArg := strings.Cut(m, "=")
		name = strings.ToLower(trimOWS(name))
		arg, ok := unquote(trimOWS(arg))
		if !ok || !isToken(name) {
			return true
		}
		cc.Directives++
		cc.apply(name, arg, hasArg)
		return true
	})
	return cc
}

func (cc *CacheControl) apply(name, arg string, hasArg bool) {
	switch name {
	case "max-age":
		setDelta(&cc.MaxAge, arg, hasArg, 0)
	case "s-maxage":
		setDelta(&cc.SMaxAge, arg, hasArg, 0)
	case "max-stale":
		if !hasArg {
			cc.MaxStaleAny = true
			return
		}
		setDelta(&cc.MaxStale, arg, hasArg, Absent)
	case "min-fresh":
		setDelta(&cc.MinFresh, arg, hasArg, Absent)
	case "stale-while-revalidate":
		setDelta(&cc.StaleWhileRevalidate, arg, hasArg, Absent)
	case "stale-if-error":
		setDelta(&cc.StaleIfError, arg, hasArg, Absent)
	case "no-store":
		cc.NoStore = true
	case "no-cache":
		if hasArg {
			cc.NoCacheFields = append(cc.NoCacheFields, fieldNames(arg)...)
		} else {
			cc.NoCache = true
		}
	case "private":
		if hasArg {
			cc.PrivateFields = append(cc.PrivateFields, fieldNames(arg)...)
		} else {
			cc.Private = true
		}
	case "public":
		cc.Public = true
	case "must-revalidate":
		cc.MustRevalidate = true
	case "proxy-revalidate":
		cc.ProxyRevalidate = true
	case "must-understand":
		cc.MustUnderstand = true
	case "no-transform":
		cc.NoTransform = true
	case "only-if-cached":
		cc.OnlyIfCached = true
	case "immutable":
		cc.Immutable = true
	}
}

// setDelta stores the first valid occurrence of a delta-seconds directive.
// A malformed value stores bad (0 = stale for freshness directives,
// Absent = ignored for the others) unless an earlier one was stored.
func setDelta(dst *int64, arg string, hasArg bool, bad int64) {
	if *dst != Absent {
		return
	}
	n, ok := parseDelta(arg)
	if !hasArg || !ok {
		*dst = bad
		return
	}
	*dst = n
}

// parseDelta parses delta-seconds: 1*DIGIT, clamped to 2^31.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxDelta {
		return maxDelta, true
	}
	return n, true
}
