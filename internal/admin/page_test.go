package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// get fetches path from the admin server at c with extra request headers.
func get(t *testing.T, c *Client, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var assetRef = regexp.MustCompile(`"(/ui/[^"?]+)\?v=([0-9a-f]{16})"`)

// TestPageAssets: the page and every asset it names are served with their
// type, the security headers and the caching the hashes allow.
func TestPageAssets(t *testing.T) {
	c := startTestServer(t, Options{})
	resp, index := get(t, c, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d; want 200", resp.StatusCode)
	}
	checkHeaders(t, "/", resp, "text/html; charset=utf-8", cacheRevalid)
	refs := assetRef.FindAllStringSubmatch(index, -1)
	if len(refs) != 8 {
		t.Fatalf("index.html names %d hashed assets; want 8 (favicon, 2 styles, 5 scripts):\n%s", len(refs), index)
	}
	if strings.Contains(index, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(index) {
		t.Errorf("index.html has inline script; the CSP forbids it")
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, ref := range refs {
		path, hash := ref[1], ref[2]
		want := types[path[strings.LastIndex(path, "."):]]
		resp, body := get(t, c, path+"?v="+hash)
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s?v=%s = %d, %d bytes; want 200 with a body", path, hash, resp.StatusCode, len(body))
			continue
		}
		checkHeaders(t, path+"?v="+hash, resp, want, cacheImmutable)
		resp, _ = get(t, c, path)
		checkHeaders(t, path, resp, want, cacheRevalid)
		etag := resp.Header.Get("ETag")
		if etag != `"`+hash+`"` {
			t.Errorf("GET %s: ETag %s; want %q", path, etag, hash)
		}
		if resp, _ := get(t, c, path, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match %s = %d; want 304", path, etag, resp.StatusCode)
		}
	}
}

func checkHeaders(t *testing.T, path string, resp *http.Response, ctype, cache string) {
	t.Helper()
	for h, want := range map[string]string{
		"Content-Type":            ctype,
		"Cache-Control":           cache,
		"Content-Security-Policy": pageCSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("GET %s: %s = %q; want %q", path, h, got, want)
		}
	}
	if !strings.Contains(pageCSP, "default-src 'self'") || strings.Contains(pageCSP, "unsafe-inline") || strings.Contains(pageCSP, "unsafe-eval") {
		t.Errorf("CSP %q is not strict", pageCSP)
	}
}

// TestPageLeavesOtherPaths: the page handler answers only "/" and its
// assets; unknown API endpoints keep their JSON 404, directories and
// files that are not assets are 404s without a listing.
func TestPageLeavesOtherPaths(t *testing.T) {
	c := startTestServer(t, Options{})
	for _, tc := range []struct {
		path     string
		status   int
		jsonBody bool // the API's {"error": ...} answer
	}{
		{"/v1/nope", http.StatusNotFound, true},
		{"/v1/", http.StatusNotFound, true},
		{"/v1/apps/web/nope", http.StatusNotFound, true},
		{"/index.html", http.StatusNotFound, true},
		{"/favicon.ico", http.StatusNotFound, true},
		{"/ui/", http.StatusNotFound, false},
		{"/ui/vendor/", http.StatusNotFound, false},
		{"/ui/vendor", http.StatusNotFound, false},
		{"/ui/vendor/SHA256SUMS", http.StatusNotFound, false},
		{"/ui/vendor/uPlot.LICENSE", http.StatusNotFound, false},
		{"/ui/nope.js", http.StatusNotFound, false},
		{"/ui/index.html", http.StatusNotFound, false},
		{"/v1/status", http.StatusOK, false},
	} {
		resp, body := get(t, c, tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %q = %d; want %d", tc.path, resp.StatusCode, tc.status)
		}
		if strings.Contains(body, "<a href") || strings.Contains(body, "uPlot.iife") {
			t.Errorf("GET %q lists files: %q", tc.path, body)
		}
		var e apiError
		isJSON := json.Unmarshal([]byte(body), &e) == nil && e.Error != ""
		if tc.jsonBody && !isJSON {
			t.Errorf("GET %q = %q; want the API's JSON error", tc.path, body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+c.addr+"/", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST / = %d; want 404", resp.StatusCode)
	}
}

func TestPageURL(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"", "http://127.0.0.1:7070/"},
		{"abc", "http://127.0.0.1:7070/#token=abc"},
		{"a b&c=d/+", "http://127.0.0.1:7070/#token=a+b%26c%3Dd%2F%2B"},
	} {
		if got := NewClient("127.0.0.1:7070").PageURL(tc.token); got != tc.want {
			t.Errorf("PageURL(%q) = %q; want %q", tc.token, got, tc.want)
		}
	}
}

func TestNewPageNeedsIndex(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no ui":    {},
		"no index": {"ui/app.js": {Data: []byte("'use strict';")}},
	} {
		if _, err := newPage(fsys); err == nil {
			t.Errorf("newPage(%s) = nil error; want one", name)
		}
	}
	if _, err := newPage(uiFiles); err != nil {
		t.Errorf("newPage(embedded) = %v; want nil", err)
	}
}
