package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// EdgeCache is the edge's HTTP cache (RFC 9111): a memory tier and an
// optional disk tier that survives restarts. Which routes use it, and how,
// is set per route (Route.Cache).
type EdgeCache struct {
	// Memory is the memory tier's budget; default 256MiB. 0 turns the
	// cache off for every route.
	Memory Size `yaml:"memory"`
	// Disk is the disk tier; default a 1GiB tier in <data_dir>/cache.
	Disk CacheDisk `yaml:"disk"`
}

// CacheDisk is the cache's disk tier.
type CacheDisk struct {
	Path string `yaml:"path"` // absolute; default <data_dir>/cache
	Size Size   `yaml:"size"` // budget for the files under Path; default 1GiB; 0 turns the disk tier off
}

// Purge says who may invalidate cached content through the edge (PURGE
// and BAN requests) and the admin API.
type Purge struct {
	// Allow lists the client networks that may purge; default loopback
	// (127.0.0.0/8 and ::1). A bare IP is a single-address prefix.
	Allow []netip.Prefix `yaml:"allow"`
	// Token, when set, also lets any client purge that sends it as
	// "Authorization: Bearer <token>" or "X-Purge-Token: <token>". Use
	// ${VAR} to keep it out of the file.
	Token string `yaml:"token"`
}

// RouteCache is how a route uses the edge cache.
type RouteCache struct {
	// Bypass sends every request of the route to the app uncached; unsafe
	// methods still invalidate what other routes stored. Default false.
	Bypass bool `yaml:"bypass"`
	// SortQuery sorts query parameters in the cache key. Default false.
	SortQuery bool `yaml:"sort_query"`
	// DropQuery are query parameter names (globs, e.g. "utm_*") left out
	// of the cache key; the app still receives them. Default none.
	DropQuery []string `yaml:"drop_query"`
	// KeyHeaders are request fields added to the cache key. Default none.
	KeyHeaders []string `yaml:"key_headers"`
	// BypassCookies are cookie names (globs) whose presence sends a
	// request past the cache: logged-in users of a CMS. Default none.
	BypassCookies []string `yaml:"bypass_cookies"`
	// VaryCookies are the cookie names (globs) that count when a response
	// varies on Cookie: requests that differ only in other cookies
	// (analytics, consent) share a stored copy. The app still receives
	// every cookie. Default none: the whole Cookie field counts.
	VaryCookies []string `yaml:"vary_cookies"`
	// MaxObjectSize: larger responses are served but not stored; default
	// 256MiB.
	MaxObjectSize Size `yaml:"max_object_size"`
	// DefaultTTL is the freshness of cacheable responses that carry no
	// explicit lifetime and no Last-Modified; default 0 (RFC 9111: store
	// for revalidation only).
	DefaultTTL Duration `yaml:"default_ttl"`
	// Grace is how long past its freshness a stored response is still
	// served when the app fails (every instance down, timing out or
	// answering 5xx); default 1h. Responses marked must-revalidate,
	// proxy-revalidate, no-cache or s-maxage are never served stale this
	// way.
	Grace Duration `yaml:"grace"`
	// HitForPass is how long, after the app answered a request with a
	// response the cache may not store (private, no-store, Set-Cookie...),
	// requests of that variant go to the app each on its own instead of
	// waiting for one another's fetch, which could answer none of them.
	// The variant is the response's Vary and key_headers, plus the
	// cookies for a private or Set-Cookie answer. Default 2m; 0 turns it
	// off (such requests then wait for each other, one at a time).
	HitForPass Duration `yaml:"hit_for_pass"`
	// ClientCacheControl, when set, is the Cache-Control clients get on
	// every response the cache may share (hits and misses alike) in place
	// of the app's: e.g. "private, must-revalidate, max-age=0" for a CMS
	// that sends s-maxage for the edge and wants browsers to revalidate.
	// The stored copy keeps the app's; responses that may not be shared
	// (private, no-store) keep theirs. Default none: the app's as sent.
	ClientCacheControl string `yaml:"client_cache_control"`
	// KeepTagHeaders delivers tag fields (Surrogate-Key, xkey, Cache-Tag,
	// ...) to clients; by default they are removed.
	KeepTagHeaders bool `yaml:"keep_tag_headers"`
	// StoreSetCookie stores responses that set cookies (the Set-Cookie
	// field is not stored). Default false, as in Varnish.
	StoreSetCookie bool `yaml:"store_set_cookie"`
	// IgnoreClientNoCache ignores no-cache / max-age=0 from clients (a
	// browser's reload), so visitors cannot force requests to the app.
	// Default false.
	IgnoreClientNoCache bool `yaml:"ignore_client_no_cache"`
}

func (c *RouteCache) setDefaults() {
	c.MaxObjectSize = 256 * MiB
	c.Grace = Duration(time.Hour)
	c.HitForPass = Duration(2 * time.Minute)
}

func (c *EdgeCache) setDefaults() {
	c.Memory = 256 * MiB
	c.Disk.Size = 1 * GiB
}

// cache checks edge.cache and edge.purge. It runs after cluster(), so the
// data directory is absolute.
func (k *checker) cache() {
	c := &k.st.Edge.Cache
	if d := &c.Disk; d.Path == "" {
		d.Path = filepath.Join(k.st.Cluster.DataDir, "cache")
	} else {
		d.Path = k.path("edge.cache.disk.path", d.Path)
	}
	p := &k.st.Edge.Purge
	if p.Allow == nil {
		p.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if p.Token != "" && len(p.Token) < 16 {
		k.c.addf("edge.purge.token", "must be at least 16 characters (it is a password), got %d", len(p.Token))
	}
}

// routeCache checks one route's cache options.
func (k *checker) routeCache(p string, c *RouteCache) {
	if c.DefaultTTL < 0 {
		k.c.addf(p+".default_ttl", "must be >= 0, got %s", c.DefaultTTL)
	}
	if c.Grace < 0 {
		k.c.addf(p+".grace", "must be >= 0, got %s", c.Grace)
	}
	if c.HitForPass < 0 {
		k.c.addf(p+".hit_for_pass", "must be >= 0, got %s", c.HitForPass)
	}
	if v := c.ClientCacheControl; v != "" && !isCacheControl(v) {
		k.c.addf(p+".client_cache_control", "%q is not a Cache-Control value", v)
	}
	for i, h := range c.KeyHeaders {
		if !isFieldName(h) {
			k.c.addf(fmt.Sprintf("%s.key_headers[%d]", p, i), "%q is not a header field name", h)
		}
	}
	for i, g := range c.DropQuery {
		if strings.TrimSpace(g) == "" {
			k.c.addf(fmt.Sprintf("%s.drop_query[%d]", p, i), "must not be empty")
		}
	}
	for i, g := range c.BypassCookies {
		if strings.TrimSpace(g) == "" {
			k.c.addf(fmt.Sprintf("%s.bypass_cookies[%d]", p, i), "must not be empty")
		}
	}
	for i, g := range c.VaryCookies {
		if strings.TrimSpace(g) == "" {
			k.c.addf(fmt.Sprintf("%s.vary_cookies[%d]", p, i), "must not be empty")
		}
	}
}

// isFieldName reports whether s is an HTTP field name (an RFC 9110 token).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isCacheControl reports whether s can be sent as a Cache-Control field:
// printable ASCII without surrounding spaces, and at least one directive.
func isCacheControl(s string) bool {
	if s != strings.TrimSpace(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	for _, d := range strings.Split(s, ",") {
		name, _, _ := strings.Cut(d, "=")
		if isFieldName(strings.TrimSpace(name)) {
			return true
		}
	}
	return false
}
