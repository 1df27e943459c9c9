package siteproxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSites is the sites core's answer, set by the test.
type fakeSites struct {
	mu      sync.Mutex // guards serving
	serving []string
}

func (f *fakeSites) Serving() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.serving
}

func (f *fakeSites) set(serving ...string) {
	f.mu.Lock()
	f.serving = serving
	f.mu.Unlock()
}

func newTestProxy(t *testing.T, sites *fakeSites) *Proxy {
	t.Helper()
	p, err := New(Options{Site: "cloud", Node: "c1", Sites: sites, ProbeTimeout: 1500 * time.Millisecond,
		Origins: map[string]string{"home": "https://home.example.com/", "cloud": "https://cloud.example.com", "spare": "https://spare.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(p *Proxy, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	return rec
}

func TestFiles(t *testing.T) {
	p := newTestProxy(t, &fakeSites{})
	page := get(p, "GET", "http://any.example/.tandem/sites/?to=/wiki", nil)
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(page.Body.String(), `<script src="/.tandem/sites/app.js" defer>`) {
		t.Fatalf("page = %d %q %q", page.Code, page.Header().Get("Content-Type"), page.Body)
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self' https://cloud.example.com https://home.example.com https://spare.example.com;", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("page CSP %q; want %q in it", csp, want)
		}
	}
	sw := get(p, "GET", "/.tandem/sites/sw.js", nil)
	if sw.Code != 200 || sw.Header().Get("Service-Worker-Allowed") != "/" || !strings.HasPrefix(sw.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("sw.js = %d %v", sw.Code, sw.Header())
	}
	if b := sw.Body.String(); strings.Contains(b, "{{") || !strings.Contains(b, "const TIMEOUT = 1500;") {
		t.Errorf("sw.js placeholders not filled:\n%s", b)
	}
	etag := sw.Header().Get("ETag")
	if r := get(p, "GET", "/.tandem/sites/sw.js", map[string]string{"If-None-Match": etag}); etag == "" || r.Code != http.StatusNotModified {
		t.Errorf("sw.js with If-None-Match %q = %d; want 304", etag, r.Code)
	}
	for _, f := range []string{"app.js", "app.css", "register.js"} {
		if r := get(p, "GET", "/.tandem/sites/"+f, nil); r.Code != 200 || r.Header().Get("Cache-Control") != "no-cache" || r.Body.Len() == 0 {
			t.Errorf("%s = %d %v", f, r.Code, r.Header())
		}
	}
	tests := []struct {
		method, target string
		code           int
	}{
		{"GET", "/.tandem/sites/index.html", 404},
		{"GET", "/.tandem/sites/ui/app.js", 404},
		{"GET", "/.tandem/sites/../secret", 404},
		{"POST", "/.tandem/sites/", 405},
		{"DELETE", "/.tandem/sites/probe", 405},
		{"GET", "/.tandem/sites?to=/x", 308},
		{"HEAD", "/.tandem/sites/app.js", 200},
	}
	for _, tt := range tests {
		if r := get(p, tt.method, tt.target, nil); r.Code != tt.code {
			t.Errorf("%s %s = %d; want %d", tt.method, tt.target, r.Code, tt.code)
		}
	}
	if r := get(p, "GET", "/.tandem/sites?to=/x", nil); r.Header().Get("Location") != "/.tandem/sites/?to=/x" {
		t.Errorf("redirect to %q", r.Header().Get("Location"))
	}
}

// TestVersionFollowsOptions: the worker's version changes with what it
// caches, so browsers install a new one.
func TestVersionFollowsOptions(t *testing.T) {
	a := newTestProxy(t, &fakeSites{})
	b, err := New(Options{Prefix: "/_sites/", Sites: &fakeSites{}, Origins: map[string]string{"home": "https://h.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	swA, swB := get(a, "GET", "/.tandem/sites/sw.js", nil), get(b, "GET", "/_sites/sw.js", nil)
	if swA.Header().Get("ETag") == swB.Header().Get("ETag") || swA.Body.String() == swB.Body.String() {
		t.Error("two proxies with other prefixes and timeouts serve the same worker")
	}
	if page := get(b, "GET", "/_sites/", nil); !strings.Contains(page.Body.String(), `src="/_sites/app.js"`) {
		t.Errorf("page under /_sites/ = %q", page.Body)
	}
}

func TestProbe(t *testing.T) {
	sites := &fakeSites{serving: []string{"home", "cloud"}}
	p := newTestProxy(t, sites)
	r := get(p, "GET", "/.tandem/sites/probe", map[string]string{"Origin": "https://home.example.com"})
	if r.Code != 200 || r.Header().Get("Access-Control-Allow-Origin") != "*" || r.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("probe = %d %v", r.Code, r.Header())
	}
	var a probeAnswer
	if err := json.Unmarshal(r.Body.Bytes(), &a); err != nil || a.Site != "cloud" || a.Node != "c1" || strings.Join(a.Serving, ",") != "home,cloud" {
		t.Errorf("probe answer = %+v, %v; want site cloud, node c1, serving home,cloud", a, err)
	}
	sites.set()
	if r := get(p, "GET", "/.tandem/sites/probe", nil); !strings.Contains(r.Body.String(), `"serving":[]`) {
		t.Errorf("probe with nothing serving = %s; want an empty list", r.Body)
	}
	pre := get(p, "OPTIONS", "/.tandem/sites/probe", map[string]string{"Origin": "https://cloud.example.com",
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Private-Network": "true"})
	if pre.Code != 204 || pre.Header().Get("Access-Control-Allow-Private-Network") != "true" || pre.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight = %d %v", pre.Code, pre.Header())
	}
}

// TestConfigOrder: config.json lists the serving sites first, in their
// order (the leading site first), then the others by name.
func TestConfigOrder(t *testing.T) {
	sites := &fakeSites{}
	p := newTestProxy(t, sites)
	tests := []struct {
		serving []string
		want    string
	}{
		{[]string{"home", "cloud"}, "home,cloud,spare"},
		{[]string{"cloud"}, "cloud,home,spare"},
		{[]string{"witness", "spare", "home"}, "spare,home,cloud"}, // a site without an origin is left out
		{nil, "cloud,home,spare"},
	}
	for _, tt := range tests {
		sites.set(tt.serving...)
		r := get(p, "GET", "/.tandem/sites/config.json", nil)
		var c pageConfig
		if err := json.Unmarshal(r.Body.Bytes(), &c); err != nil {
			t.Fatalf("config.json %q: %v", r.Body, err)
		}
		var names []string
		for _, s := range c.Sites {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, ","); got != tt.want {
			t.Errorf("serving %q: sites %s; want %s", tt.serving, got, tt.want)
		}
		if c.ProbePath != "/.tandem/sites/probe" || c.ProbeTimeoutMS != 1500 || c.ProbeIntervalMS != 2000 || c.Sites[0].Origin == "" ||
			strings.HasSuffix(c.Sites[0].Origin, "/") {
			t.Errorf("config = %+v", c)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	sites := &fakeSites{}
	for _, o := range []Options{
		{Prefix: "/x", Sites: sites, Origins: map[string]string{"a": "https://a.example"}},
		{Prefix: "/x\"y/", Sites: sites, Origins: map[string]string{"a": "https://a.example"}},
		{Sites: sites},
		{Origins: map[string]string{"a": "https://a.example"}},
		{Sites: sites, Origins: map[string]string{"a": "ftp://a.example"}},
		{Sites: sites, Origins: map[string]string{"a": "https://a.example/app"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
}
