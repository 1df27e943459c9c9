package httpcache

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults for zero option values.
const (
	DefaultName            = "tandem"
	DefaultMemory          = 256 << 20
	DefaultMemoryObjectMax = 1 << 20
	DefaultMaxObjectSize   = 256 << 20
	DefaultHitForPass      = 2 * time.Minute
	DefaultHeuristicMax    = 24 * time.Hour
	DefaultHousekeeping    = 10 * time.Second
)

// Options configure a [Cache]. The zero value is a memory-only cache with
// the defaults above.
type Options struct {
	// Name is the cache's name in Cache-Status (RFC 9211); "tandem" if empty.
	Name string
	// Memory is the memory tier's budget in bytes (bodies and metadata).
	Memory int64
	// MemoryObjectMax: bodies larger than this are kept on disk only
	// (streamed to a file while they are fetched) when there is a disk
	// tier. Without one, bodies up to the route's MaxObjectSize are kept
	// in memory.
	MemoryObjectMax int64
	// Disk, when non-nil, adds a disk tier that survives restarts.
	Disk *DiskOptions
	// TagHeaders are the response fields tags are read from; nil means
	// DefaultTagHeaders.
	TagHeaders []TagHeader
	// Logger receives the few events worth logging (a disk tier that
	// fails, a panicking upstream handler); nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// Housekeeping is the period of Run's background work (ban lurker,
	// tag index sweep, retrying a failed disk); 0 means 10s.
	Housekeeping time.Duration
}

// DiskOptions configure the disk tier.
type DiskOptions struct {
	// Path is a directory owned by the cache; it is created if missing.
	Path string
	// Size is the budget in bytes for the files under Path.
	Size int64
	// MinFree is the free space the tier leaves its filesystem: below it
	// the tier stores nothing new and evicts objects until there is
	// room again (see diskspace.go). DefaultDiskMinFree when 0; none
	// when negative.
	MinFree int64
}

// RouteOptions configure the caching of one route (one [Cache.Handler]).
// The zero value caches by the RFC with tandem's defaults.
type RouteOptions struct {
	// Bypass passes every request of the route to the origin unchanged
	// (Cache-Status: fwd=bypass). Unsafe methods still invalidate.
	Bypass bool `json:"bypass,omitempty"`
	// Key shapes the cache key.
	Key KeyOptions `json:"key"`
	// BypassCookies are cookie names (case-insensitive globs such as
	// "wordpress_logged_in_*", "__ac", "*session*"); a request carrying
	// one goes to the origin and its response is not stored.
	BypassCookies []string `json:"bypass_cookies,omitempty"`
	// VaryCookies are the cookie names (case-insensitive globs) that
	// count when a response varies on Cookie: a request's Cookie field
	// selects a variant by the listed cookies alone, sorted, so that
	// cookies the responses do not depend on (analytics, consent) do not
	// make a stored copy each. The origin still receives every cookie.
	// Empty: the whole field counts (RFC 9111).
	VaryCookies []string `json:"vary_cookies,omitempty"`
	// MaxObjectSize: responses with a bigger body are served but not
	// stored; 0 means 256 MiB.
	MaxObjectSize int64 `json:"max_object_size,omitempty"`
	// DefaultTTL is the freshness given to responses that are cacheable
	// by default (200, 301, 404, ...) but carry no explicit freshness and
	// no Last-Modified. 0, the RFC's choice, stores them for validation
	// only.
	DefaultTTL time.Duration `json:"default_ttl,omitempty"`
	// HeuristicMax caps the Last-Modified heuristic (10% of the
	// response's age at arrival); 0 means 24h, negative disables it.
	HeuristicMax time.Duration `json:"heuristic_max,omitempty"`
	// Grace is how long past its freshness a stored response is still
	// served when the origin fails (5xx or no answer), unless the
	// response says must-revalidate, proxy-revalidate, no-cache or
	// s-maxage.
	Grace time.Duration `json:"grace,omitempty"`
	// HitForPass is how long requests of a variant whose response could
	// not be stored go to the origin each on its own, rather than wait
	// for one another's fetch (which could answer none of the others).
	// The variant is the response's: its Vary fields and the route's key
	// headers, plus the cookies for a private or Set-Cookie answer. 0
	// means 2m; negative disables it.
	HitForPass time.Duration `json:"hit_for_pass,omitempty"`
	// ClientCacheControl, when set, is the Cache-Control field clients get
	// instead of the origin's on every response the cache may share
	// (hits, revalidations, and misses it stores or could store), e.g.
	// "private, must-revalidate, max-age=0" for a CMS that sends
	// s-maxage for the cache and expects browsers to revalidate. The
	// stored response keeps the origin's field; responses that may not be
	// shared (private, no-store, ...) pass as the origin sent them.
	ClientCacheControl string `json:"client_cache_control,omitempty"`
	// KeepTagHeaders delivers the tag fields (Surrogate-Key, xkey, ...)
	// to clients; by default they are removed.
	KeepTagHeaders bool `json:"keep_tag_headers,omitempty"`
	// StoreSetCookie stores responses that set cookies (without the
	// Set-Cookie field). By default, as in Varnish, they are not stored.
	StoreSetCookie bool `json:"store_set_cookie,omitempty"`
	// IgnoreClientNoCache makes the cache ignore no-cache and max-age=0
	// from clients (a browser's reload), as most CDNs do, so that they
	// cannot force origin requests.
	IgnoreClientNoCache bool `json:"ignore_client_no_cache,omitempty"`
}

// Validate reports the first invalid field, named as in JSON.
func (o RouteOptions) Validate() error {
	switch {
	case o.MaxObjectSize < 0:
		return errors.New("max_object_size: must be >= 0")
	case o.DefaultTTL < 0:
		return errors.New("default_ttl: must be >= 0")
	case o.Grace < 0:
		return errors.New("grace: must be >= 0")
	}
	for i, h := range o.Key.Headers {
		if !isToken(h) {
			return fmt.Errorf("key.headers[%d]: %q is not a field name", i, h)
		}
	}
	if v := o.ClientCacheControl; v != "" && (!validFieldValue(v) || ParseCacheControl([]string{v}).Directives == 0) {
		return fmt.Errorf("client_cache_control: %q is not a Cache-Control value", v)
	}
	for i, c := range o.VaryCookies {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("vary_cookies[%d]: must not be empty", i)
		}
	}
	return nil
}

func (o Options) validate() error {
	switch {
	case o.Memory < 0:
		return errors.New("memory: must be >= 0")
	case o.MemoryObjectMax < 0:
		return errors.New("memory_object_max: must be >= 0")
	case o.Housekeeping < 0:
		return errors.New("housekeeping: must be >= 0")
	case o.Disk != nil && o.Disk.Path == "":
		return errors.New("disk.path: must be set")
	case o.Disk != nil && o.Disk.Size <= 0:
		return errors.New("disk.size: must be > 0")
	}
	return nil
}

func (o *RouteOptions) maxObjectSize() int64 {
	if o.MaxObjectSize == 0 {
		return DefaultMaxObjectSize
	}
	return o.MaxObjectSize
}

func (o *RouteOptions) heuristics() heuristics {
	h := heuristics{max: o.HeuristicMax, defaultTTL: o.DefaultTTL}
	switch {
	case h.max == 0:
		h.max = DefaultHeuristicMax
	case h.max < 0:
		h.max = time.Nanosecond // effectively off
	}
	return h
}

// hitForPass is the marker's duration; 0 when disabled.
func (o *RouteOptions) hitForPass() time.Duration {
	switch {
	case o.HitForPass == 0:
		return DefaultHitForPass
	case o.HitForPass < 0:
		return 0
	}
	return o.HitForPass
}
