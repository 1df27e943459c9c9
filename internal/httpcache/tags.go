package httpcache

import (
	"net/http"
	"strings"
)

// Limits on the tags kept for one response or purge: bigger inputs are
// truncated, never rejected, so that a CMS that over-tags still caches.
const (
	maxTags   = 4096
	maxTagLen = 1024
)

// TagFormat says how a tag field separates its tags.
type TagFormat int

const (
	// TagsSpace: tags separated by spaces (Surrogate-Key, xkey).
	TagsSpace TagFormat = iota
	// TagsComma: tags separated by commas (Cache-Tag, Edge-Cache-Tag).
	TagsComma
	// TagsStrings: a Structured Fields List of Strings (Cache-Groups,
	// RFC 9875). A field that is not one is ignored whole.
	TagsStrings
)

// TagHeader names a field that carries tags and its format.
type TagHeader struct {
	Name   string
	Format TagFormat
}

// DefaultTagHeaders are the response fields read for tags when
// [Options].TagHeaders is nil: the ones Fastly, Varnish xkey, Cloudflare,
// Akamai, Drupal, Magento and RFC 9875 use.
var DefaultTagHeaders = []TagHeader{
	{"Surrogate-Key", TagsSpace},
	{"Xkey", TagsSpace},
	{"Cache-Tag", TagsComma},
	{"Cache-Tags", TagsComma},
	{"Cache-Groups", TagsStrings},
	{"Edge-Cache-Tag", TagsComma},
}

// ParseTags returns the tags in the lines of one field of the given
// format, without duplicates, in order of first appearance.
func ParseTags(format TagFormat, values []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) bool {
		if t == "" || len(t) > maxTagLen || seen[t] {
			return true
		}
		seen[t] = true
		out = append(out, t)
		return len(out) < maxTags
	}
	switch format {
	case TagsSpace:
		for _, v := range values {
			for _, t := range strings.Fields(v) {
				if !add(t) {
					return out
				}
			}
		}
	case TagsComma:
		for _, v := range values {
			for _, t := range strings.Split(v, ",") {
				if !add(strings.TrimSpace(t)) {
					return out
				}
			}
		}
	case TagsStrings:
		list, ok := parseStringList(strings.Join(values, ","))
		if !ok {
			return nil
		}
		for _, t := range list {
			if !add(t) {
				return out
			}
		}
	}
	return out
}

// tagsOf returns the tags of a response header from all tag fields.
func tagsOf(h http.Header, fields []TagHeader) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fields {
		v := h.Values(f.Name)
		if len(v) == 0 {
			continue
		}
		for _, t := range ParseTags(f.Format, v) {
			if len(out) < maxTags && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// parseStringList parses an RFC 9651 List whose members are all Strings;
// parameters are skipped. ok is false for anything else.
func parseStringList(s string) (list []string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	for s != "" {
		str, rest, ok := parseSFString(s)
		if !ok {
			return nil, false
		}
		list = append(list, str)
		rest, ok = skipSFParams(rest)
		if !ok {
			return nil, false
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, false
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		if rest == "" {
			return nil, false // trailing comma
		}
		s = rest
	}
	return list, true
}

// parseSFString parses a Structured Fields sf-string at the start of s.
func parseSFString(s string) (str, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", s, false
			}
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], true
		case c < 0x20 || c > 0x7e:
			return "", s, false
		default:
			b.WriteByte(c)
		}
	}
	return "", s, false
}

// skipSFParams skips ";key[=value]" parameters after a list member.
func skipSFParams(s string) (string, bool) {
	for len(s) > 0 && s[0] == ';' {
		s = strings.TrimLeft(s[1:], " ")
		i := 0
		for i < len(s) && (tokenChar(s[i]) || s[i] == ':' || s[i] == '/') && s[i] != '=' {
			i++
		}
		if i == 0 {
			return s, false
		}
		s = s[i:]
		if len(s) > 0 && s[0] == '=' {
			s = s[1:]
			if len(s) > 0 && s[0] == '"' {
				_, rest, ok := parseSFString(s)
				if !ok {
					return s, false
				}
				s = rest
				continue
			}
			j := 0
			for j < len(s) && (tokenChar(s[j]) || s[j] == ':' || s[j] == '/' || s[j] == '?' || s[j] == '=') {
				j++
			}
			if j == 0 {
				return s, false
			}
			s = s[j:]
		}
	}
	return s, true
}
