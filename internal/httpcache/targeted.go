package httpcache

import (
	"strconv"

	"github.com/dunglas/httpsfv"
)

// parseTargeted parses a targeted cache-control field such as
// CDN-Cache-Control (RFC 9213 §2.1). Unlike Cache-Control it is a
// Structured Fields Dictionary (RFC 9651), and a value that does not
// parse as one is ignored whole: ok is false, and the next field in
// precedence decides. A member is a directive: no value (Boolean true),
// an Integer for delta-seconds, a String or Token argument; any other
// type is a malformed value (for max-age and s-maxage: stale).
// Parameters are ignored and, as in any Dictionary, the last of
// duplicate members wins.
func parseTargeted(values []string) (cc CacheControl, ok bool) {
	d, err := httpsfv.UnmarshalDictionary(values)
	if err != nil {
		return CacheControl{}, false
	}
	cc = ParseCacheControl(nil)
	for _, name := range d.Names() {
		m, _ := d.Get(name)
		arg, hasArg, set := directiveArg(name, m)
		if !set {
			continue
		}
		cc.Directives++
		cc.apply(name, arg, hasArg)
	}
	return cc, true
}

// malformedArg is an argument no directive accepts.
const malformedArg = "\x00"

// directiveArg maps the Dictionary member of directive name to its
// argument. A delta-seconds directive takes an Integer only (max-age=60,
// not max-age="60"); the others a String or Token. set is false for
// Boolean false ("no-store=?0"): the directive is not given.
func directiveArg(name string, m httpsfv.Member) (arg string, hasArg, set bool) {
	item, ok := m.(httpsfv.Item)
	if !ok {
		return malformedArg, true, true // an Inner List: no directive takes one
	}
	if b, ok := item.Value.(bool); ok {
		return "", false, b
	}
	n, isInt := item.Value.(int64)
	switch name {
	case "max-age", "s-maxage", "max-stale", "min-fresh", "stale-while-revalidate", "stale-if-error":
		if isInt {
			return strconv.FormatInt(n, 10), true, true
		}
		return malformedArg, true, true
	}
	switch v := item.Value.(type) {
	case string:
		return v, true, true
	case httpsfv.Token:
		return string(v), true, true
	}
	return malformedArg, true, true // an Integer, Decimal, Byte Sequence, Date, Display String
}
