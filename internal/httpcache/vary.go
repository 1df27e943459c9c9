package httpcache

import (
	"net/http"
	"slices"
	"strings"
)

// maxVaryFields bounds the fields one response may vary on; a response
// that names more is not stored.
const maxVaryFields = 16

// Vary is a parsed Vary field.
type Vary struct {
	// Star is true when the list contains "*": the response never
	// matches a later request (RFC 9111 §4.1).
	Star bool
	// Fields are the canonical field names, sorted and without duplicates.
	Fields []string
}

// ParseVary parses all lines of a Vary field. Members that are not
// tokens are ignored; too many members make the result Star, so that
// such a response is not stored.
func ParseVary(values []string) Vary {
	var v Vary
	splitList(values, func(m string) bool {
		switch {
		case m == "*":
			v.Star = true
		case isToken(m):
			v.Fields = append(v.Fields, http.CanonicalHeaderKey(m))
		}
		return true
	})
	slices.Sort(v.Fields)
	v.Fields = slices.Compact(v.Fields)
	if len(v.Fields) > maxVaryFields {
		v.Star, v.Fields = true, nil
	}
	if v.Star {
		v.Fields = nil
	}
	return v
}

// normalizeFieldValue joins the lines of a request field into one value
// with the whitespace around list commas removed, so that semantically
// equal values compare equal (RFC 9111 §4.1). An absent field is "" and
// an empty one is "\x00" so that the two do not match.
func normalizeFieldValue(values []string) string {
	if values == nil {
		return ""
	}
	if len(values) == 1 && !strings.ContainsAny(values[0], ", \t") {
		if values[0] == "" {
			return "\x00"
		}
		return values[0]
	}
	var b strings.Builder
	first := true
	splitList(values, func(m string) bool {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(m)
		return true
	})
	if b.Len() == 0 {
		return "\x00"
	}
	return b.String()
}

// selector gives the value a request field has for selecting a variant
// (RFC 9111 §4.1): its normalized value, except for Cookie on a route
// that lists the cookies that count (RouteOptions.VaryCookies).
type selector struct {
	cookies globs // empty: the whole Cookie field counts
	// cookie is the Cookie value of the one request the selector is
	// bound to (see bind), so that it is worked out once, not once per
	// stored variant compared.
	cookie string
	bound  bool
}

// bind returns s for the request header h only.
func (s selector) bind(h http.Header) selector {
	if len(s.cookies) > 0 {
		s.cookie, s.bound = s.cookieValue(h["Cookie"]), true
	}
	return s
}

func (s selector) value(h http.Header, field string) string {
	if len(s.cookies) > 0 && field == "Cookie" {
		if s.bound {
			return s.cookie
		}
		return s.cookieValue(h["Cookie"])
	}
	return normalizeFieldValue(h[field])
}

// cookieValue is the canonical form of the listed cookies in the lines
// of a Cookie field: their name=value pairs, sorted, joined by "; "; ""
// when there is none. Requests that differ only in other cookies get the
// same value. A value taken without a list may equal one taken with it
// (a variant stored before the list was set, found on disk) only when
// the field held listed cookies alone: the same request, then.
func (s selector) cookieValue(lines []string) string {
	var first string
	var more []string // all pairs, once there are two
	n := 0
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			if n++; n > maxFieldMembers {
				break
			}
			pair := trimOWS(part)
			name, _, _ := strings.Cut(pair, "=")
			switch {
			case pair == "" || !s.cookies.match(name):
			case first == "":
				first = pair
			case more == nil:
				more = []string{first, pair}
			default:
				more = append(more, pair)
			}
		}
	}
	if more == nil {
		return first
	}
	slices.Sort(more)
	return strings.Join(more, "; ")
}

// selects reports whether a request with header h has the values vals
// of fields (RFC 9111 §4.1).
func (s selector) selects(h http.Header, fields, vals []string) bool {
	for i, f := range fields {
		if s.value(h, f) != vals[i] {
			return false
		}
	}
	return true
}

// values returns the selecting values of fields in h, in order.
func (s selector) values(h http.Header, fields []string) []string {
	if len(fields) == 0 {
		return nil
	}
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = s.value(h, f)
	}
	return out
}
