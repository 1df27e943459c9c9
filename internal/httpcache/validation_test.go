package httpcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNotModifiedUpdatesStoredHeaders(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", e.clock.Now().Format(http.TimeFormat))
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("X-Version", "2")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("X-Version", "1")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("body"))
	})
	e.get("http://example.org/")
	e.clock.Advance(20 * time.Second)
	r := e.get("http://example.org/")
	if r.Code != 200 || r.Body.String() != "body" || r.Header().Get("X-Version") != "2" {
		t.Fatalf("after 304: %d %q X-Version %q; want 200 body 2", r.Code, r.Body.String(), r.Header().Get("X-Version"))
	}
	if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "fwd=stale; fwd-status=304") {
		t.Errorf("Cache-Status = %q; want fwd=stale; fwd-status=304", cs)
	}
	// The new max-age=100 applies from the 304 on.
	e.clock.Advance(50 * time.Second)
	r = e.get("http://example.org/")
	if !isHit(r) || r.Header().Get("X-Version") != "2" || r.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("after update: hit %v X-Version %q Content-Type %q; want true 2 text/plain",
			isHit(r), r.Header().Get("X-Version"), r.Header().Get("Content-Type"))
	}
	if n := e.o.n(); n != 2 {
		t.Errorf("origin calls = %d; want 2", n)
	}
}

func TestRevalidationWithLastModified(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	lm := e.clock.Now().Add(-time.Hour).Format(http.TimeFormat)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Last-Modified", lm)
		if r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("body"))
	})
	e.get("http://example.org/")
	e.clock.Advance(5 * time.Second)
	if r := e.get("http://example.org/"); r.Body.String() != "body" {
		t.Errorf("body = %q; want body", r.Body.String())
	}
	if got := e.o.last().Header.Get("If-Modified-Since"); got != lm {
		t.Errorf("If-Modified-Since = %q; want %q", got, lm)
	}
}

func TestClientConditionalFromCache(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	lm := e.clock.Now().Add(-time.Hour)
	e.o.set(fixed(e.clock, 200, "body", "Cache-Control", "max-age=60", "Etag", `"abc"`,
		"Last-Modified", lm.Format(http.TimeFormat)))
	e.get("http://example.org/")
	tests := []struct {
		hdr  []string
		code int
	}{
		{[]string{"If-None-Match", `"abc"`}, 304},
		{[]string{"If-None-Match", `W/"abc"`}, 304},
		{[]string{"If-None-Match", `"x", "abc"`}, 304},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-Modified-Since", e.clock.Now().Format(http.TimeFormat)}, 304},
		{[]string{"If-Modified-Since", lm.Add(-time.Hour).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", e.clock.Now().Format(http.TimeFormat)}, 200},
		{[]string{"If-Match", `"nope"`}, 412},
	}
	for _, tt := range tests {
		r := e.get("http://example.org/", tt.hdr...)
		if r.Code != tt.code {
			t.Errorf("GET with %q = %d; want %d", tt.hdr, r.Code, tt.code)
		}
		if tt.code == 304 && (r.Body.Len() != 0 || r.Header().Get("Etag") != `"abc"`) {
			t.Errorf("304 body %q Etag %q; want empty, \"abc\"", r.Body.String(), r.Header().Get("Etag"))
		}
	}
	if e.o.n() != 1 {
		t.Errorf("origin calls = %d; want 1", e.o.n())
	}
}

func TestClientConditionalOnMissNotForwarded(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "body", "Cache-Control", "max-age=60", "Etag", `"abc"`))
	r := e.get("http://example.org/", "If-None-Match", `"abc"`)
	if r.Code != 304 {
		t.Errorf("conditional miss = %d; want 304 answered by the cache", r.Code)
	}
	if got := e.o.last().Header.Get("If-None-Match"); got != "" {
		t.Errorf("origin got If-None-Match %q; want the full response requested", got)
	}
	if r := e.get("http://example.org/"); !isHit(r) || r.Body.String() != "body" {
		t.Errorf("full response not stored after a conditional miss")
	}
}

func TestVaryVariants(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language, Accept-Encoding")
		w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
	})
	for _, lang := range []string{"en", "de", "fr"} {
		e.get("http://example.org/", "Accept-Language", lang)
	}
	for _, lang := range []string{"en", "de", "fr"} {
		r := e.get("http://example.org/", "Accept-Language", lang)
		if !isHit(r) || r.Body.String() != "lang="+lang {
			t.Errorf("variant %s: hit %v body %q", lang, isHit(r), r.Body.String())
		}
	}
	r := e.get("http://example.org/", "Accept-Language", "it")
	if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "fwd=vary-miss") {
		t.Errorf("new variant Cache-Status = %q; want fwd=vary-miss", cs)
	}
	// Normalized whitespace matches.
	e.get("http://example.org/", "Accept-Language", "en", "Accept-Encoding", "gzip,br")
	if r := e.get("http://example.org/", "Accept-Language", "en", "Accept-Encoding", "gzip, br"); !isHit(r) {
		t.Errorf("Accept-Encoding differing in whitespace only did not match")
	}
	if e.o.n() != 5 {
		t.Errorf("origin calls = %d; want 5", e.o.n())
	}
}

func TestHeadFromStoredGet(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "hello", "Cache-Control", "max-age=60"))
	e.get("http://example.org/")
	r := e.do(http.MethodHead, "http://example.org/")
	if !isHit(r) || r.Body.Len() != 0 || r.Header().Get("Content-Length") != "5" {
		t.Errorf("HEAD: hit %v body %q Content-Length %q", isHit(r), r.Body.String(), r.Header().Get("Content-Length"))
	}
	// A HEAD miss fills the cache with a GET.
	r = e.do(http.MethodHead, "http://example.org/other")
	if r.Body.Len() != 0 || e.o.last().Method != http.MethodGet {
		t.Errorf("HEAD miss: body %q, origin method %s", r.Body.String(), e.o.last().Method)
	}
	if r := e.get("http://example.org/other"); !isHit(r) || r.Body.String() != "hello" {
		t.Errorf("GET after HEAD miss: hit %v body %q", isHit(r), r.Body.String())
	}
}

func TestRangeFromStoredResponse(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "0123456789", "Cache-Control", "max-age=60", "Etag", `"r"`))
	r := e.get("http://example.org/", "Range", "bytes=2-4")
	if r.Code != http.StatusPartialContent || r.Body.String() != "234" {
		t.Errorf("range on miss = %d %q; want 206 234", r.Code, r.Body.String())
	}
	if got := e.o.last().Header.Get("Range"); got != "" {
		t.Errorf("origin got Range %q; want none", got)
	}
	r = e.get("http://example.org/", "Range", "bytes=-3")
	if r.Code != http.StatusPartialContent || r.Body.String() != "789" || !isHit(r) {
		t.Errorf("range on hit = %d %q hit %v; want 206 789 true", r.Code, r.Body.String(), isHit(r))
	}
	r = e.get("http://example.org/", "Range", "bytes=2-4", "If-Range", `"other"`)
	if r.Code != 200 || r.Body.String() != "0123456789" {
		t.Errorf("failed If-Range = %d %q; want full 200", r.Code, r.Body.String())
	}
}

func TestUnsafeMethodInvalidates(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "/other")
			w.Header().Set("Content-Location", "http://elsewhere.example/page")
			w.WriteHeader(http.StatusSeeOther)
		case http.MethodDelete:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte(r.URL.Path))
		}
	})
	for _, p := range []string{"/page", "/other"} {
		e.get("http://example.org" + p)
	}
	e.do(http.MethodDelete, "http://example.org/page") // an error: invalidates nothing
	if r := e.get("http://example.org/page"); !isHit(r) {
		t.Errorf("DELETE answered 500 invalidated the page")
	}
	r := e.do(http.MethodPost, "http://example.org/page")
	if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "fwd=method") {
		t.Errorf("POST Cache-Status = %q; want fwd=method", cs)
	}
	for _, p := range []string{"/page", "/other"} {
		if r := e.get("http://example.org" + p); isHit(r) {
			t.Errorf("%s still cached after POST", p)
		}
	}
}

func TestCacheStatusValues(t *testing.T) {
	e := newEnv(t, RouteOptions{BypassCookies: []string{"sess*"}}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	want := []struct {
		method, path string
		hdr          []string
		cs           string
	}{
		{"GET", "/a", nil, "tandem; fwd=uri-miss; fwd-status=200; stored; ttl=60"},
		{"GET", "/a", nil, "tandem; hit; ttl=60"},
		{"GET", "/a", []string{"Cookie", "a=1; session_id=2"}, "tandem; fwd=bypass; fwd-status=200; detail=\"cookie session_id\""},
		{"GET", "/a", []string{"Cache-Control", "no-cache"}, "tandem; fwd=request; fwd-status=200; stored; ttl=60"},
		{"PUT", "/a", nil, "tandem; fwd=method; fwd-status=200"},
	}
	for _, w := range want {
		r := e.do(w.method, "http://example.org"+w.path, w.hdr...)
		if got := r.Header().Get("Cache-Status"); got != w.cs {
			t.Errorf("%s %s %q: Cache-Status = %q; want %q", w.method, w.path, w.hdr, got, w.cs)
		}
	}
}

func TestCacheStatusAppendsToUpstream(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60", "Cache-Status", "app; hit"))
	e.get("http://example.org/")
	r := e.get("http://example.org/")
	if got := r.Header().Values("Cache-Status"); len(got) != 2 || got[0] != "app; hit" || !strings.HasPrefix(got[1], "tandem; hit") {
		t.Errorf("Cache-Status = %q; want upstream's then tandem's", got)
	}
}
