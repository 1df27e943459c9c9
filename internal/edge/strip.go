package edge

import (
	"net/http"
	"net/url"
	"strings"
)

// stripPrefix returns a handler that removes a route's path prefix from
// the request before next gets it, for a route whose upstream knows
// nothing of the prefix (Route.StripPath). It runs behind the cache, which
// keys on the path the client sent. What is left always starts with "/":
// "/legacy" and "/legacy/" both become "/". The request is copied, not
// changed: the access log and purges see the client's path.
func stripPrefix(prefix string, next http.Handler) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := *r
		u := *r.URL
		u.Path = strings.TrimPrefix(u.Path, prefix)
		if u.RawPath != "" {
			u.RawPath = trimEscapedPrefix(u.RawPath, prefix)
		}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
			if u.RawPath != "" {
				u.RawPath = "/" + u.RawPath
			}
		}
		r2.URL = &u
		next.ServeHTTP(w, &r2)
	})
}

// trimEscapedPrefix returns what follows prefix, a decoded path, in raw,
// the escaped path it was decoded from, by their segments: the escaping
// of the rest (an escaped "/" in a key) is kept. It returns "" when raw
// does not start with prefix's segments, such as when the prefix itself
// was written with an escaped "/"; then the rest is escaped anew.
func trimEscapedPrefix(raw, prefix string) string {
	i := 0
	for range strings.Count(prefix, "/") {
		j := strings.IndexByte(raw[i+1:], '/')
		if j < 0 {
			i = len(raw)
			break
		}
		i += j + 1
	}
	if head, err := url.PathUnescape(raw[:i]); err != nil || head != prefix {
		return ""
	}
	return raw[i:]
}
