package httpcache

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// KeyOptions shape the cache key of a route. The default key is scheme,
// host and path with the query string as sent.
type KeyOptions struct {
	// SortQuery sorts query parameters by name, so that ?a=1&b=2 and
	// ?b=2&a=1 share an entry.
	SortQuery bool `json:"sort_query,omitempty"`
	// DropQuery lists query parameter names (case-insensitive globs such
	// as "utm_*", "fbclid") left out of the key. The origin still
	// receives them on a miss.
	DropQuery []string `json:"drop_query,omitempty"`
	// Headers are request fields added to the key, as if every response
	// of the route named them in Vary (e.g. "X-Forwarded-Proto",
	// "Accept-Language"). Purging a URL purges all of them.
	Headers []string `json:"headers,omitempty"`
}

// keyer computes primary cache keys for one route's KeyOptions.
type keyer struct {
	sortQuery bool
	drop      globs
	headers   []string // canonical, sorted, unique
	sig       string   // identifies equal options, to dedupe keyers
}

func newKeyer(o KeyOptions) *keyer {
	k := &keyer{sortQuery: o.SortQuery, drop: newGlobs(o.DropQuery)}
	for _, h := range o.Headers {
		k.headers = append(k.headers, http.CanonicalHeaderKey(h))
	}
	slices.Sort(k.headers)
	k.headers = slices.Compact(k.headers)
	k.sig = strings.Join([]string{
		boolSig(o.SortQuery), strings.ToLower(strings.Join(o.DropQuery, "\x00")),
	}, "\x01")
	return k
}

func boolSig(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// requestKey is the primary key of a server request.
func (k *keyer) requestKey(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return k.key(scheme, host, r.URL.EscapedPath(), r.URL.RawQuery)
}

// urlKey is the primary key of an absolute URL (purges, Location).
func (k *keyer) urlKey(u *url.URL) string {
	return k.key(u.Scheme, u.Host, u.EscapedPath(), u.RawQuery)
}

func (k *keyer) key(scheme, host, path, rawQuery string) string {
	var b strings.Builder
	b.Grow(len(scheme) + len(host) + len(path) + len(rawQuery) + 4)
	b.WriteString(strings.ToLower(scheme))
	b.WriteString("://")
	b.WriteString(normalizeHost(scheme, host))
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	if q := k.query(rawQuery); q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	return b.String()
}

// query applies SortQuery and DropQuery to a raw query, keeping each
// parameter's encoding as sent.
func (k *keyer) query(raw string) string {
	if raw == "" || (!k.sortQuery && len(k.drop) == 0) {
		return raw
	}
	params := strings.Split(raw, "&")
	out := params[:0]
	for _, p := range params {
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if len(k.drop) > 0 {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if k.drop.match(name) {
				continue
			}
		}
		out = append(out, p)
	}
	if k.sortQuery {
		slices.SortStableFunc(out, func(a, b string) int {
			an, _, _ := strings.Cut(a, "=")
			bn, _, _ := strings.Cut(b, "=")
			return strings.Compare(an, bn)
		})
	}
	return strings.Join(out, "&")
}

// normalizeHost lowercases a host and drops the scheme's default port.
func normalizeHost(scheme, host string) string {
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if (port == "80" && scheme == "http") || (port == "443" && scheme == "https") || port == "" {
			if strings.Contains(h, ":") {
				return "[" + h + "]"
			}
			return h
		}
	}
	return host
}

// keyOrigin returns the "scheme://host" prefix of a primary key.
func keyOrigin(key string) string {
	i := strings.Index(key, "://")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(key[i+3:], '/')
	if j < 0 {
		return key
	}
	return key[:i+3+j]
}
