package httpcache

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func purgeReq(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func TestParsePurge(t *testing.T) {
	tests := []struct {
		name string
		r    *http.Request
		want Event
	}{
		{"origin form", purgeReq("PURGE", "/wiki/Main_Page?action=raw"),
			Event{Kind: PurgeURL, URL: "http://example.com/wiki/Main_Page?action=raw"}},
		{"MediaWiki absolute form", purgeReq("PURGE", "http://wiki.example.org/wiki/Page"),
			Event{Kind: PurgeURL, URL: "http://wiki.example.org/wiki/Page"}},
		{"soft", purgeReq("PURGE", "/a", "Purge-Mode", "soft"),
			Event{Kind: PurgeURL, URL: "http://example.com/a", Soft: true}},
		{"Fastly soft", purgeReq("PURGE", "/a", "Fastly-Soft-Purge", "1"),
			Event{Kind: PurgeURL, URL: "http://example.com/a", Soft: true}},
		{"Surrogate-Key", purgeReq("PURGE", "/", "Surrogate-Key", "a b  a"),
			Event{Kind: PurgeTag, Tags: []string{"a", "b"}}},
		{"xkey-purge", purgeReq("PURGE", "/", "xkey-purge", "post-1"),
			Event{Kind: PurgeTag, Tags: []string{"post-1"}}},
		{"xkey-softpurge", purgeReq("PURGE", "/", "xkey-softpurge", "post-1"),
			Event{Kind: PurgeTag, Tags: []string{"post-1"}, Soft: true}},
		{"Cache-Tag", purgeReq("PURGE", "/", "Cache-Tag", "x, y"),
			Event{Kind: PurgeTag, Tags: []string{"x", "y"}}},
		{"Cache-Groups-Invalidation", purgeReq("PURGE", "/", "Cache-Groups-Invalidation", `"g1", "g2"`),
			Event{Kind: PurgeTag, Tags: []string{"g1", "g2"}}},
		{"WordPress regex", purgeReq("PURGE", "/.*", "X-Purge-Method", "regex"),
			Event{Kind: PurgeBan, Host: `^example\.com$`, Path: "/.*"}},
		{"Varnish BAN headers", purgeReq("BAN", "/", "X-Ban-Url", "^/news/", "X-Ban-Host", "example"),
			Event{Kind: PurgeBan, Host: "example", Path: "^/news/"}},
		{"BAN path", purgeReq("BAN", "/img/.*"),
			Event{Kind: PurgeBan, Host: `^example\.com$`, Path: "/img/.*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePurge(tt.r)
			if err != nil {
				t.Fatalf("ParsePurge: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePurge = %+v; want %+v", got, tt.want)
			}
		})
	}
	if _, err := ParsePurge(purgeReq("GET", "/")); !errors.Is(err, ErrNotPurge) {
		t.Errorf("GET: err = %v; want ErrNotPurge", err)
	}
	if _, err := ParsePurge(purgeReq("BAN", "/", "X-Ban-Url", "(")); !errors.Is(err, ErrBadPurge) {
		t.Errorf("bad regex: err = %v; want ErrBadPurge", err)
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	ev := Event{Kind: PurgeBan, Host: "^a$", Path: "^/x", Soft: true, Time: time.Unix(10, 0).UTC(), Seq: 7}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, ev) {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, ev)
	}
}

// site is an env whose origin serves /path with tags from ?tags=.
func site(t *testing.T) *env {
	e := newEnv(t, RouteOptions{}, nil)
	var mu sync.Mutex
	version := map[string]int{}
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		version[r.Host+r.URL.Path]++
		v := version[r.Host+r.URL.Path]
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Vary", "Accept-Language")
		if tags := r.URL.Query().Get("tags"); tags != "" {
			w.Header().Set("Surrogate-Key", strings.ReplaceAll(tags, ",", " "))
		}
		w.Write([]byte(r.URL.Path + " v" + string(rune('0'+v))))
	})
	return e
}

func TestPurgeURLAllVariants(t *testing.T) {
	e := site(t)
	for _, l := range []string{"en", "de"} {
		e.get("http://example.org/wiki/Page", "Accept-Language", l)
	}
	ev, err := ParsePurge(purgeReq("PURGE", "http://example.org/wiki/Page"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.c.Apply(ev); err != nil || n != 2 {
		t.Errorf("Apply = %d, %v; want 2 variants", n, err)
	}
	for _, l := range []string{"en", "de"} {
		if r := e.get("http://example.org/wiki/Page", "Accept-Language", l); isHit(r) {
			t.Errorf("variant %s survived the purge", l)
		}
	}
}

func TestPurgeURLUnderRouteKeyOptions(t *testing.T) {
	e := newEnv(t, RouteOptions{Key: KeyOptions{SortQuery: true}}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("https://example.org/p?b=1&a=2")
	if n, _ := e.c.Apply(Event{Kind: PurgeURL, URL: "http://example.org/p?a=2&b=1"}); n != 1 {
		t.Errorf("purge of the http, unsorted URL removed %d; want 1", n)
	}
}

func TestPurgeTagExact(t *testing.T) {
	e := site(t)
	e.get("http://example.org/a?tags=post-1,list")
	e.get("http://example.org/b?tags=post-2,list")
	e.get("http://example.org/c?tags=post-1")
	e.get("http://example.org/d")
	n, err := e.c.Apply(Event{Kind: PurgeTag, Tags: []string{"post-1"}})
	if err != nil || n != 2 {
		t.Errorf("tag purge = %d, %v; want 2", n, err)
	}
	for path, cached := range map[string]bool{"/a?tags=post-1,list": false, "/b?tags=post-2,list": true, "/c?tags=post-1": false, "/d": true} {
		if r := e.get("http://example.org" + path); isHit(r) != cached {
			t.Errorf("%s cached = %v; want %v", path, isHit(r), cached)
		}
	}
}

func TestBan(t *testing.T) {
	e := site(t)
	paths := []string{"/news/1", "/news/2", "/about"}
	for _, p := range paths {
		e.get("http://example.org" + p)
		e.get("http://other.org" + p)
	}
	ev, err := ParsePurge(purgeReq("BAN", "/", "X-Ban-Url", "^/news/", "X-Ban-Host", `^example\.org$`))
	if err != nil {
		t.Fatal(err)
	}
	e.c.Apply(ev)
	for _, p := range paths {
		want := p == "/about"
		if r := e.get("http://example.org" + p); isHit(r) != want {
			t.Errorf("example.org%s cached = %v; want %v", p, isHit(r), want)
		}
		if r := e.get("http://other.org" + p); !isHit(r) {
			t.Errorf("other.org%s was banned", p)
		}
	}
}

func TestBanWordPressRegex(t *testing.T) {
	e := site(t)
	for _, p := range []string{"/", "/2024/hello", "/wp-content/x.css"} {
		e.get("http://blog.example" + p)
	}
	e.get("http://shop.example/")
	req := purgeReq("PURGE", "/.*", "X-Purge-Method", "regex")
	req.Host = "blog.example"
	ev, err := ParsePurge(req)
	if err != nil {
		t.Fatal(err)
	}
	e.c.Apply(ev)
	for _, p := range []string{"/", "/2024/hello", "/wp-content/x.css"} {
		if r := e.get("http://blog.example" + p); isHit(r) {
			t.Errorf("blog.example%s survived the ban", p)
		}
	}
	if r := e.get("http://shop.example/"); !isHit(r) {
		t.Errorf("another host was banned")
	}
}

func TestBanLurkerTrims(t *testing.T) {
	e := site(t)
	e.get("http://example.org/x")
	e.get("http://example.org/y")
	e.c.Apply(Event{Kind: PurgeBan, Path: "^/x$"})
	if s := e.c.Stats(); s.Bans != 1 {
		t.Fatalf("bans = %d; want 1", s.Bans)
	}
	e.c.lurk()
	if s := e.c.Stats(); s.Bans != 0 || s.Purged != 1 {
		t.Errorf("after the lurker: bans %d purged %d; want 0, 1", s.Bans, s.Purged)
	}
	if r := e.get("http://example.org/x"); isHit(r) {
		t.Errorf("/x survived the lurker")
	}
	if r := e.get("http://example.org/y"); !isHit(r) {
		t.Errorf("/y was removed by the lurker")
	}
}

func TestBanSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnvOpts(t, diskOpts(dir), RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=3600"))
	e.get("http://example.org/x")
	e.c.Apply(Event{Kind: PurgeBan, Path: "^/x"})
	e2 := newEnvOpts(t, diskOpts(dir), RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=3600"))
	if r := e2.get("http://example.org/x"); isHit(r) {
		t.Errorf("banned object came back after a restart")
	}
}

func TestSoftPurgeServesStaleWhileRevalidating(t *testing.T) {
	for _, ev := range []Event{
		{Kind: PurgeURL, URL: "http://example.org/a?tags=t", Soft: true},
		{Kind: PurgeTag, Tags: []string{"t"}, Soft: true},
		{Kind: PurgeBan, Path: "^/a", Soft: true},
	} {
		t.Run(string(ev.Kind), func(t *testing.T) {
			e := site(t)
			e.get("http://example.org/a?tags=t")
			release := make(chan struct{})
			next := e.o.fn
			e.o.set(func(w http.ResponseWriter, r *http.Request) { <-release; next(w, r) })
			if _, err := e.c.Apply(ev); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				r := e.doAsync("GET", "http://example.org/a?tags=t")
				if r.Body.String() != "/a v1" || !strings.Contains(r.Header().Get("Cache-Status"), "stale-while-revalidate") {
					t.Fatalf("after soft purge: %q %q; want the stale v1 at once", r.Body.String(), r.Header().Get("Cache-Status"))
				}
			}
			close(release)
			e.c.waitIdle()
			if n := e.o.n(); n != 2 {
				t.Errorf("origin calls = %d; want 2 (one revalidation)", n)
			}
			if r := e.get("http://example.org/a?tags=t"); r.Body.String() != "/a v2" || !isHit(r) {
				t.Errorf("after revalidation: %q hit %v", r.Body.String(), isHit(r))
			}
		})
	}
}

func TestPurgeDuringFetchIsNotUndone(t *testing.T) {
	e := site(t)
	release := make(chan struct{})
	next := e.o.fn
	arrived := make(chan struct{})
	e.o.set(func(w http.ResponseWriter, r *http.Request) { close(arrived); <-release; next(w, r) })
	done := make(chan struct{})
	go func() { e.doAsync("GET", "http://example.org/a"); close(done) }()
	<-arrived
	e.c.Apply(Event{Kind: PurgeURL, URL: "http://example.org/a"})
	close(release)
	<-done
	e.c.waitIdle()
	e.o.set(next)
	if r := e.get("http://example.org/a"); isHit(r) {
		t.Errorf("a response fetched before a purge was stored after it")
	}
}

func TestPurgeAll(t *testing.T) {
	e := site(t)
	e.get("http://example.org/a")
	e.get("http://example.org/b")
	if n, _ := e.c.Apply(Event{Kind: PurgeAll}); n != 2 {
		t.Errorf("purge all = %d; want 2", n)
	}
	if r := e.get("http://example.org/a"); isHit(r) {
		t.Errorf("/a survived purge all")
	}
}

func TestCacheGroupsInvalidationOnUnsafe(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Cache-Groups-Invalidation", `"articles"`)
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Cache-Groups", `"articles"`)
		w.Write([]byte("x"))
	})
	e.get("http://example.org/list")
	e.get("http://other.example/list")
	e.do(http.MethodPost, "http://example.org/edit")
	if r := e.get("http://example.org/list"); isHit(r) {
		t.Errorf("group member survived Cache-Groups-Invalidation")
	}
	if r := e.get("http://other.example/list"); !isHit(r) {
		t.Errorf("another origin's group member was invalidated")
	}
}
