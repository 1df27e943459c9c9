package edge

import (
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// Route sends requests for a host and path prefix to an app.
type Route struct {
	// Host is an exact host name, a wildcard "*.example.com" (any
	// subdomain, not the apex), or "" / "*" for any host.
	Host string
	// Path is a prefix matched at segment boundaries: "/api" matches
	// "/api" and "/api/x", not "/apix". "" means "/".
	Path string
	// App names the app that serves the route.
	App string
	// Cache, when set (and Options.Cache is), caches the route's
	// responses with these options.
	Cache *httpcache.RouteOptions
	// StreamBody passes request bodies on to the app as they arrive,
	// rather than reading each in full before an instance is picked: for
	// uploads the app must see as they come. A slow client then holds an
	// app worker as long as it sends.
	StreamBody bool
	// Fallback, if not nil, answers the route's requests with a fallback
	// page while it is on, from below the cache (see Fallback).
	Fallback *Fallback
	// StripPath removes Path from requests before they go on (behind the
	// cache): an upstream served at /legacy/ gets /legacy/a as /a.
	StripPath bool

	handler http.Handler // the app's proxy, behind the cache if any
	label   string       // names the route in metrics: host pattern and path
	cached  bool         // handler includes the cache
}

// routeLabel names a route in metrics by what the stack file says:
// "/api", "example.com/", "*.example.com/blog". Its values are as few as
// the routes, whatever the URLs requested.
func routeLabel(host, path string) string {
	if path == "" {
		path = "/"
	}
	if host == "*" {
		host = ""
	}
	return normalizeHost(host) + path
}

// routeTable picks the route for a request. It is immutable once built.
// Specific hosts beat wildcards, wildcards beat "any host"; within a host
// class the longest path prefix wins.
type routeTable struct {
	exact    map[string][]Route // host -> routes, longest path first
	wildcard []Route            // "*.example.com", longest suffix then path first
	any      []Route            // longest path first
}

func newRouteTable(routes []Route) *routeTable {
	t := &routeTable{exact: make(map[string][]Route)}
	for _, r := range routes {
		if r.Path == "" {
			r.Path = "/"
		}
		h := normalizeHost(r.Host)
		switch {
		case h == "" || h == "*":
			t.any = append(t.any, r)
		case strings.HasPrefix(h, "*."):
			r.Host = h
			t.wildcard = append(t.wildcard, r)
		default:
			r.Host = h
			t.exact[h] = append(t.exact[h], r)
		}
	}
	byPath := func(rs []Route) {
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Path) > len(rs[j].Path) })
	}
	for _, rs := range t.exact {
		byPath(rs)
	}
	byPath(t.any)
	sort.SliceStable(t.wildcard, func(i, j int) bool {
		if len(t.wildcard[i].Host) != len(t.wildcard[j].Host) {
			return len(t.wildcard[i].Host) > len(t.wildcard[j].Host)
		}
		return len(t.wildcard[i].Path) > len(t.wildcard[j].Path)
	})
	return t
}

// match returns the route for host (as sent, possibly with a port) and
// path, and false when no route matches.
func (t *routeTable) match(host, path string) (Route, bool) {
	h := normalizeHost(host)
	if r, ok := matchPath(t.exact[h], path); ok {
		return r, true
	}
	for _, r := range t.wildcard {
		if strings.HasSuffix(h, r.Host[1:]) && pathMatches(r.Path, path) {
			return r, true
		}
	}
	return matchPath(t.any, path)
}

func matchPath(rs []Route, path string) (Route, bool) {
	for _, r := range rs {
		if pathMatches(r.Path, path) {
			return r, true
		}
	}
	return Route{}, false
}

// pathMatches reports whether prefix matches path at a segment boundary.
func pathMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// normalizeHost lowercases a Host header value and strips the port and a
// trailing dot.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}
