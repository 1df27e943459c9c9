package httpcache

import (
	"net/http"
	"strings"

	"github.com/dunglas/httpsfv"
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
		list, ok := parseStringList(values)
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
// parameters are ignored. ok is false for anything else.
func parseStringList(values []string) (list []string, ok bool) {
	l, err := httpsfv.UnmarshalList(values)
	if err != nil {
		return nil, false
	}
	list = make([]string, 0, len(l))
	for _, m := range l {
		item, ok := m.(httpsfv.Item)
		if !ok {
			return nil, false
		}
		s, ok := item.Value.(string)
		if !ok {
			return nil, false
		}
		list = append(list, s)
	}
	return list, true
}
