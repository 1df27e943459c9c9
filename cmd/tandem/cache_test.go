package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const cachedTestapp = `
cluster: { data_dir: "{{dir}}" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 2
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
`

// get fetches url and returns the body and Cache-Status.
func getCached(t *testing.T, c *http.Client, url string) (string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	return string(b), resp.Header.Get("Cache-Status")
}

func isHit(cacheStatus string) bool { return strings.HasPrefix(cacheStatus, "tandem; hit") }

// TestDiskCacheSurvivesRestart: objects in the disk tier are served as
// hits by the next tandem process on the same data directory.
func TestDiskCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	sf := writeStack(t, cachedTestapp)
	n := startStack(t, sf)
	n.waitFor("2 healthy instances", 20*time.Second, healthy("web", 2))
	url := "http://" + sf.edge + "/cacheable/page"
	first, st := getCached(t, http.DefaultClient, url)
	if isHit(st) {
		t.Fatalf("first GET was a hit: %q", st)
	}
	if again, st := getCached(t, http.DefaultClient, url); again != first || !isHit(st) {
		t.Fatalf("second GET = %q (%s); want a hit of %q", again, st, first)
	}
	n.stop()
	if code := n.wait(30 * time.Second); code != 0 {
		t.Fatalf("tandem exit code %d", code)
	}

	n2 := startStack(t, sf)
	n2.waitFor("2 healthy instances after restart", 20*time.Second, healthy("web", 2))
	after, st := getCached(t, http.DefaultClient, url)
	if after != first || !isHit(st) {
		t.Errorf("GET after restart = %q (Cache-Status %q); want a hit of %q", after, st, first)
	}
}

// TestPurgeFromCLI: `tandem purge` by URL and by tag, as an operator
// would, makes the next GET go to the app.
func TestPurgeFromCLI(t *testing.T) {
	t.Parallel()
	n := startNode(t, cachedTestapp)
	n.waitFor("2 healthy instances", 20*time.Second, healthy("web", 2))
	base := "http://" + n.edge
	for _, p := range []string{"/cacheable/a?tag=red", "/cacheable/b?tag=blue"} {
		getCached(t, http.DefaultClient, base+p)
		if _, st := getCached(t, http.DefaultClient, base+p); !isHit(st) {
			t.Fatalf("GET %s not cached: %q", p, st)
		}
	}
	purge := func(args ...string) string {
		out, code := n.cli("purge", args...)
		if code != 0 {
			t.Fatalf("tandem purge %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	if out := purge("--tag", "red"); !strings.Contains(out, "purged 1 stored response") {
		t.Errorf("tandem purge --tag red printed %q", out)
	}
	if _, st := getCached(t, http.DefaultClient, base+"/cacheable/a?tag=red"); isHit(st) {
		t.Error("tagged object still a hit after tandem purge --tag")
	}
	if _, st := getCached(t, http.DefaultClient, base+"/cacheable/b?tag=blue"); !isHit(st) {
		t.Error("an object with another tag was purged too")
	}
	purge(base + "/cacheable/b?tag=blue")
	if _, st := getCached(t, http.DefaultClient, base+"/cacheable/b?tag=blue"); isHit(st) {
		t.Error("object still a hit after tandem purge URL")
	}
	if out, code := n.cli("purge"); code != 2 {
		t.Errorf("tandem purge with nothing to purge: exit %d; want 2\n%s", code, out)
	}
}

// TestWikiEditVisibleThroughCache: the example wiki tags its pages and
// purges them on edit, so an anonymous reader sees an edit on the next GET
// although pages are cached for minutes.
func TestWikiEditVisibleThroughCache(t *testing.T) {
	t.Parallel()
	n := startNode(t, `
cluster: { data_dir: "{{dir}}" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  wiki:
    command: ["{{wiki}}", "serve"]
    instances: 2
    env: { WIKI_DATA: "{{dir}}/wiki" }
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
`)
	n.waitFor("2 healthy instances", 30*time.Second, healthy("wiki", 2))
	base := "http://" + n.edge
	reader := &http.Client{}
	jar, _ := cookiejar.New(nil)
	editor := &http.Client{Jar: jar}

	resp, err := editor.PostForm(base+"/login", url.Values{"username": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	for i, text := range []string{"First version of the home page.", "Second version, edited."} {
		edit(t, editor, base, "Home", text)
		body, st := getCached(t, reader, base+"/wiki/Home")
		if !strings.Contains(body, text) {
			t.Fatalf("edit %d: reader got %q (Cache-Status %q); want the edit %q", i+1, body, st, text)
		}
		// The page is cached for the next reader...
		if _, st := getCached(t, reader, base+"/wiki/Home"); !isHit(st) {
			t.Errorf("edit %d: second reader GET not a cache hit: %q", i+1, st)
		}
	}
}

var (
	csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	baseRE = regexp.MustCompile(`name="base" value="([^"]*)"`)
)

// edit saves a page the way the edit form does.
func edit(t *testing.T, c *http.Client, base, title, text string) {
	t.Helper()
	form, _ := getCached(t, c, base+"/wiki/"+title+"/edit")
	csrf, rev := csrfRE.FindStringSubmatch(form), baseRE.FindStringSubmatch(form)
	if csrf == nil || rev == nil {
		t.Fatalf("edit form without csrf or base:\n%s", form)
	}
	resp, err := c.PostForm(base+"/wiki/"+title, url.Values{"csrf": {csrf[1]}, "base": {rev[1]}, "body": {text}, "comment": {"test"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), text) {
		t.Fatalf("save %s: status %d\n%s", title, resp.StatusCode, b)
	}
}
