package main

import (
	"net/http"
	"strings"
	"time"
)

// The caching contract with the edge (tandem's cache, or Varnish):
//
//   - A response to a request without a session cookie is the same for
//     every anonymous user, so the edge may keep it: "public, max-age=0,
//     s-maxage=300" lets a shared cache serve it for five minutes while
//     browsers revalidate every time. s-maxage also forbids a shared cache
//     to serve it stale (RFC 9111 5.2.2.10), so the wiki tells tandem its
//     own policy in Tandem-Cache-Control, "max-age=300": the same five
//     minutes, and tandem may then serve the page stale (its grace) while
//     every instance is down. tandem removes that field before delivery;
//     other caches ignore it. Its Surrogate-Key names what it shows:
//     "page-{title}" for a page and its history, "index" for the page
//     list, and "pages" on all of them (so an operator can drop every page
//     with one tag purge). Saving a page purges "page-{title}" and "index"
//     only: the other pages do not show it and stay cached.
//   - A response to a request with a session cookie shows who is logged in
//     (edit links, the logout form with its CSRF token): "private, no-store".
//     No cache keeps it, so it needs no Vary.
//   - Public responses carry "Vary: Cookie". Without it, a cache that does
//     not skip requests with cookies (RFC 9111 does not require it to) would
//     hand the anonymous copy to a logged-in user. Anonymous visitors
//     normally send no cookie at all, so they still share one cache entry.
//   - ETags are weak: they name the revision and this build's templates,
//     but the footer names the instance that rendered the page, so two
//     instances' bytes differ for the same ETag. Weak is what If-None-Match
//     compares anyway, so an instance answers 304 for a copy another one
//     rendered.

const (
	cachePublic  = "public, max-age=0, s-maxage=300"
	cacheTandem  = "max-age=300" // Tandem-Cache-Control of a public response
	cachePrivate = "private, no-store"
	cacheFiles   = "public, max-age=3600"
)

// setPublic marks a response as cacheable by the edge under tags.
// modified may be zero (no Last-Modified); etag may be empty.
func setPublic(h http.Header, etag string, modified time.Time, tags ...string) {
	h.Set("Cache-Control", cachePublic)
	h.Set("Tandem-Cache-Control", cacheTandem)
	h.Set("Vary", "Cookie")
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	if len(tags) > 0 {
		h.Set("Surrogate-Key", strings.Join(tags, " "))
	}
}

// pageTag is the Surrogate-Key tag of one page: the same escaped title as
// in its URL, so it holds no spaces and only ASCII.
func pageTag(title string) string { return "page-" + strings.TrimPrefix(titlePath(title), "/wiki/") }

// notModified reports whether a GET or HEAD may be answered with 304 Not
// Modified: If-None-Match matches etag (weak comparison, RFC 9110 13.1.2),
// or, when the request has no If-None-Match, the resource has not changed
// since If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return etag != "" && etagListMatches(strings.Join(inm, ","), etag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || modified.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	return err == nil && !modified.Truncate(time.Second).After(t)
}

// etagListMatches reports whether the If-None-Match list contains "*" or
// an entity tag weakly equal to etag. Malformed members match nothing.
func etagListMatches(list, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for member := range strings.SplitSeq(list, ",") {
		member = strings.TrimSpace(member)
		if member == "*" {
			return true
		}
		member = strings.TrimPrefix(member, "W/")
		if len(member) >= 2 && member[0] == '"' && member[len(member)-1] == '"' && member == want {
			return true
		}
	}
	return false
}
