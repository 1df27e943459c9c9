package httpcache

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// EventKind is what a purge [Event] selects.
type EventKind string

const (
	// PurgeURL selects every variant stored for one URL.
	PurgeURL EventKind = "url"
	// PurgeTag selects every response carrying one of Tags.
	PurgeTag EventKind = "tag"
	// PurgeBan selects the responses whose host and path match the
	// regular expressions, lazily (see [Cache.Apply]).
	PurgeBan EventKind = "ban"
	// PurgeAll selects everything: a node that missed events drops its
	// cache with it.
	PurgeAll EventKind = "all"
)

// Event is one purge, as plain data: it is what [ParsePurge] returns,
// what [Cache.Apply] applies and what a cluster replicates to every node
// (encoding/json round-trips it). Hard purges remove; soft ones mark
// stale, so that the next request is answered at once from the stale
// response while one request revalidates it.
type Event struct {
	Kind EventKind `json:"kind"`
	// URL is the absolute URL for PurgeURL. Both its http and https forms
	// are purged, with every route's key options applied.
	URL string `json:"url,omitempty"`
	// Tags for PurgeTag.
	Tags []string `json:"tags,omitempty"`
	// Origin, when set for PurgeTag, limits it to responses of that
	// origin ("https://example.org"), as RFC 9875 groups are scoped.
	Origin string `json:"origin,omitempty"`
	// Host and Path are the regular expressions (RE2 syntax) of a
	// PurgeBan, over the host and over the path with query; an empty one
	// matches everything, but not both.
	Host string `json:"host,omitempty"`
	Path string `json:"path,omitempty"`
	// Soft marks stale instead of removing.
	Soft bool `json:"soft,omitempty"`
	// Time is when the purge was requested (informational).
	Time time.Time `json:"time"`
	// Seq is the replication order, set by whoever replicates events.
	Seq uint64 `json:"seq,omitempty"`
}

// Purge errors; [ParsePurge] wraps them.
var (
	// ErrNotPurge: the request is not a PURGE or BAN.
	ErrNotPurge = errors.New("not a purge request")
	// ErrBadPurge: the purge request or event is malformed.
	ErrBadPurge = errors.New("malformed purge")
)

// maxPurgeRegexp bounds the length of a ban's expressions.
const maxPurgeRegexp = 4096

// DefaultPurgeTagHeaders are the request fields [ParsePurge] reads tags
// from when given none: Fastly/Varnish/Cloudflare/Akamai conventions and
// RFC 9875. Tags in xkey-softpurge purge softly.
var DefaultPurgeTagHeaders = []TagHeader{
	{"Surrogate-Key", TagsSpace},
	{"Xkey", TagsSpace},
	{"Xkey-Purge", TagsSpace},
	{"Xkey-Softpurge", TagsSpace},
	{"Cache-Tag", TagsComma},
	{"Cache-Tags", TagsComma},
	{"Edge-Cache-Tag", TagsComma},
	{"Cache-Groups-Invalidation", TagsStrings},
}

// ParsePurge turns a PURGE or BAN request, as CMSs send them, into an
// Event. It checks the request's form only; whether the sender may purge
// is the caller's decision. Forms understood:
//
//   - PURGE /path?q with Host, or PURGE http://host/path (MediaWiki's
//     absolute form): that URL, every variant.
//   - PURGE with a tag field (Surrogate-Key, xkey, xkey-purge, Cache-Tag,
//     Cache-Groups-Invalidation, ... or tagHeaders): those tags.
//   - PURGE /regex with X-Purge-Method: regex (WordPress' Proxy Cache
//     Purge): a ban of the regex on the Host.
//   - BAN with X-Ban-Url and/or X-Ban-Host regexes, or BAN /regex with
//     Host: a ban.
//
// A purge is soft with "Purge-Mode: soft", "X-Purge-Soft: 1",
// "Fastly-Soft-Purge: 1" or tags in xkey-softpurge.
func ParsePurge(r *http.Request, tagHeaders ...TagHeader) (Event, error) {
	if r.Method != "PURGE" && r.Method != "BAN" {
		return Event{}, fmt.Errorf("parse purge: method %q: %w", r.Method, ErrNotPurge)
	}
	ev := Event{Soft: softPurge(r.Header)}
	if len(tagHeaders) == 0 {
		tagHeaders = DefaultPurgeTagHeaders
	}
	if tags := tagsOf(r.Header, tagHeaders); len(tags) > 0 {
		ev.Kind, ev.Tags = PurgeTag, tags
		return ev, nil
	}
	host := r.Host
	if r.URL.IsAbs() {
		host = r.URL.Host
	}
	target := rawTarget(r)
	switch {
	case r.Method == "BAN" && (r.Header.Get("X-Ban-Url") != "" || r.Header.Get("X-Ban-Host") != ""):
		ev.Kind, ev.Host, ev.Path = PurgeBan, r.Header.Get("X-Ban-Host"), r.Header.Get("X-Ban-Url")
	case r.Method == "BAN" || strings.EqualFold(r.Header.Get("X-Purge-Method"), "regex"):
		if host == "" {
			return Event{}, fmt.Errorf("parse purge: ban without host: %w", ErrBadPurge)
		}
		ev.Kind, ev.Host, ev.Path = PurgeBan, "^"+regexp.QuoteMeta(strings.ToLower(host))+"$", target
	default:
		if host == "" {
			return Event{}, fmt.Errorf("parse purge: no host: %w", ErrBadPurge)
		}
		scheme := "http"
		if r.URL.IsAbs() {
			scheme = r.URL.Scheme
		} else if r.TLS != nil {
			scheme = "https"
		}
		ev.Kind, ev.URL = PurgeURL, scheme+"://"+host+target
	}
	if err := ev.Validate(); err != nil {
		return Event{}, fmt.Errorf("parse purge: %w", err)
	}
	return ev, nil
}

// rawTarget is the request target's path and query as sent.
func rawTarget(r *http.Request) string {
	t := r.RequestURI
	if t == "" {
		t = r.URL.RequestURI()
	}
	if r.URL.IsAbs() {
		if i := strings.Index(t, "://"); i >= 0 {
			t = t[i+3:]
			if j := strings.IndexByte(t, '/'); j >= 0 {
				t = t[j:]
			} else {
				t = "/"
			}
		}
	}
	return t
}

func softPurge(h http.Header) bool {
	return strings.EqualFold(h.Get("Purge-Mode"), "soft") ||
		isTrue(h.Get("X-Purge-Soft")) || isTrue(h.Get("Fastly-Soft-Purge")) ||
		h.Get("Xkey-Softpurge") != ""
}

func isTrue(v string) bool {
	switch strings.ToLower(trimOWS(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Validate checks that the event can be applied.
func (ev Event) Validate() error {
	switch ev.Kind {
	case PurgeURL:
		u, err := url.Parse(ev.URL)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("url %q: %w", ev.URL, ErrBadPurge)
		}
	case PurgeTag:
		if len(ev.Tags) == 0 {
			return fmt.Errorf("tag purge without tags: %w", ErrBadPurge)
		}
	case PurgeBan:
		if ev.Host == "" && ev.Path == "" {
			return fmt.Errorf("ban without expressions: %w", ErrBadPurge)
		}
		if _, err := compileBan(ev); err != nil {
			return err
		}
	case PurgeAll:
	default:
		return fmt.Errorf("kind %q: %w", ev.Kind, ErrBadPurge)
	}
	return nil
}
