package httpcache

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// sessionPage answers "for <sessionid>" and varies on Cookie, as a CMS
// does whose pages differ by login only.
func sessionPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Vary", "Cookie")
	sid := ""
	if c, err := r.Cookie("sessionid"); err == nil {
		sid = c.Value
	}
	w.Write([]byte("for " + sid))
}

// TestVaryCookies: with a cookie list, requests that differ only in
// cookies not listed share a stored variant; the app still gets them all.
func TestVaryCookies(t *testing.T) {
	e := newEnv(t, RouteOptions{VaryCookies: []string{"sessionid", "lang_*"}}, sessionPage)
	steps := []struct {
		cookies []string // Cookie lines
		body    string
		hit     bool
	}{
		{[]string{"_ga=GA1.1; sessionid=a"}, "for a", false},
		{[]string{"sessionid=a; _ga=GA1.2; _fbp=x"}, "for a", true},
		{[]string{"_fbp=y", "SessionID=a"}, "for ", false}, // names are globs, case-insensitive; r.Cookie is not
		{[]string{"sessionid=a", "_ga=3"}, "for a", true},  // split over two lines
		{[]string{"_ga=GA1.3"}, "for ", false},             // no listed cookie
		{nil, "for ", true},                                // the same variant as no listed cookie
		{[]string{"consent=1"}, "for ", true},
		{[]string{"lang_de=1; sessionid=a"}, "for a", false}, // another listed cookie: another variant
		{[]string{"sessionid=a;lang_de=1"}, "for a", true},   // order and spacing do not matter
		{[]string{"sessionid=b"}, "for b", false},
	}
	for i, s := range steps {
		var hdr []string
		for _, c := range s.cookies {
			hdr = append(hdr, "Cookie", c)
		}
		r := e.get("http://example.org/page", hdr...)
		if r.Body.String() != s.body || isHit(r) != s.hit {
			t.Errorf("step %d, Cookie %q: %q hit %v; want %q hit %v (Cache-Status %q)",
				i, s.cookies, r.Body.String(), isHit(r), s.body, s.hit, r.Header().Get("Cache-Status"))
		}
	}
	if got := e.o.reqs[0].Header.Get("Cookie"); got != "_ga=GA1.1; sessionid=a" {
		t.Errorf("app got Cookie %q; want every cookie as sent", got)
	}
}

// TestVaryCookiesWithoutList: without a list, every Cookie value is a
// variant of its own (RFC 9111).
func TestVaryCookiesWithoutList(t *testing.T) {
	e := newEnv(t, RouteOptions{}, sessionPage)
	e.get("http://example.org/page", "Cookie", "sessionid=a; _ga=1")
	if r := e.get("http://example.org/page", "Cookie", "sessionid=a; _ga=2"); isHit(r) {
		t.Errorf("another Cookie value was served the stored variant without a cookie list")
	}
}

// TestVaryCookiesCoalesce: concurrent requests that differ only in
// cookies not listed share one fetch.
func TestVaryCookiesCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		e := newEnv(t, RouteOptions{VaryCookies: []string{"sessionid"}}, func(w http.ResponseWriter, r *http.Request) {
			<-release
			sessionPage(w, r)
		})
		var wg sync.WaitGroup
		statuses := make([]string, 3)
		for i, c := range []string{"_ga=1", "_ga=2; sessionid=", "_ga=3"} {
			wg.Go(func() {
				statuses[i] = e.doAsync("GET", "http://example.org/page", "Cookie", c).Header().Get("Cache-Status")
			})
			synctest.Wait()
		}
		close(release)
		wg.Wait()
		if n := e.o.n(); n != 2 {
			t.Errorf("origin calls = %d; want 2 (one per listed-cookie variant)", n)
		}
		if !strings.Contains(statuses[2], "collapsed") || strings.Contains(statuses[1], "collapsed") {
			t.Errorf("Cache-Status = %q; want the third collapsed into the first, the second on its own", statuses)
		}
	})
}
