package httpcache

import (
	"net/http"
	"strings"
)

// maxFieldMembers bounds how many members of a list-valued field are
// looked at, so that a hostile header cannot make parsing unbounded.
const maxFieldMembers = 256

// splitList calls fn for each member of the comma-separated list made of
// all lines in values (RFC 9110 §5.6.1), with optional whitespace trimmed.
// Commas inside quoted strings do not split. Empty members are skipped.
// fn returns false to stop.
func splitList(values []string, fn func(member string) bool) {
	n := 0
	for _, v := range values {
		start := 0
		inQuote, escaped := false, false
		for i := 0; i <= len(v); i++ {
			if i < len(v) {
				c := v[i]
				switch {
				case escaped:
					escaped = false
					continue
				case inQuote && c == '\\':
					escaped = true
					continue
				case c == '"':
					inQuote = !inQuote
					continue
				case c != ',' || inQuote:
					continue
				}
			}
			m := trimOWS(v[start:i])
			start = i + 1
			if m == "" {
				continue
			}
			n++
			if n > maxFieldMembers || !fn(m) {
				return
			}
		}
	}
}

// fieldValue is h.Get(key) for a key already in canonical form: it skips
// the canonicalisation Get does on every call, which shows on the hit path.
func fieldValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// trimOWS trims spaces and horizontal tabs (RFC 9110 OWS).
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// unquote returns the content of a quoted-string with its escapes
// removed, or s unchanged when it is not quoted. ok is false for a quoted
// string that is not terminated.
func unquote(s string) (v string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return s, true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), i == len(s)-1
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

func tokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validFieldValue reports whether s may be sent as a field value
// (RFC 9110 §5.5): visible ASCII, with spaces and tabs only inside.
func validFieldValue(s string) bool {
	if s == "" || s != trimOWS(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// fieldNames parses a list of field names (the argument of qualified
// no-cache and private, or Vary) into canonical form. Invalid names are
// dropped.
func fieldNames(s string) []string {
	var out []string
	splitList([]string{s}, func(m string) bool {
		if isToken(m) {
			out = append(out, http.CanonicalHeaderKey(m))
		}
		return true
	})
	return out
}

// hopByHop lists the fields a cache never stores nor forwards from a
// stored response (RFC 9110 §7.6.1, RFC 9111 §3.1).
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// removeHopByHop deletes the hop-by-hop fields of h, including those
// that the Connection field names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = trimOWS(f); f != "" {
				h.Del(f)
			}
		}
	}
	for k := range hopByHop {
		delete(h, k)
	}
}
