package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is an existing service put behind the edge as an upstream
// server: it answers /healthz while up, and any other path with its name,
// the path and Host it was asked for, an ETag, and Cache-Control from the
// query's cc.
type origin struct {
	name string
	srv  *httptest.Server
	up   atomic.Bool

	mu   sync.Mutex // guards seen
	seen []string   // "METHOD path host inm" of each request but health checks
}

func newOrigin(t *testing.T, name string) *origin {
	t.Helper()
	o := &origin{name: name}
	o.up.Store(true)
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/healthz") {
			if !o.up.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
			}
			return
		}
		o.mu.Lock()
		o.seen = append(o.seen, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.Path, r.Host, r.Header.Get("If-None-Match")))
		o.mu.Unlock()
		etag := `"` + o.name + "-" + r.URL.Path + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", r.URL.Query().Get("cc"))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, o.name+" "+r.URL.Path)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// requests returns what o was asked since the last call.
func (o *origin) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.seen
	o.seen = nil
	return out
}

// TestUpstreamRoute: a route sends a path prefix to an upstream of two
// servers, one a backup: the primary serves it with the prefix stripped
// and its own Host; the edge caches, revalidates with the ETag, purges by
// URL; the backup serves once the primary fails its health check, and
// only then.
func TestUpstreamRoute(t *testing.T) {
	t.Parallel()
	primary, backup := newOrigin(t, "primary"), newOrigin(t, "backup")
	n := startNode(t, `
cluster: { data_dir: "{{dir}}" }
edge:
  listen: "{{edge}}"
  routes:
    - { path: /, app: web }
    - { path: /ext/, upstream: legacy, strip_path: true }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
upstreams:
  legacy:
    servers:
      - url: `+primary.srv.URL+`/base
      - { url: `+backup.srv.URL+`/base, backup: true }
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1, fall: 2 }  # two missed checks, not one: a loaded machine misses one
`)
	n.waitFor("web healthy", 20*time.Second, healthy("web", 1))
	base := "http://" + n.edge
	get := func(path string) (string, string) {
		t.Helper()
		return getCached(t, http.DefaultClient, base+path)
	}

	body, st := get("/ext/a.txt?cc=max-age%3D60")
	primaryHost := strings.TrimPrefix(primary.srv.URL, "http://")
	if body != "primary /base/a.txt" || isHit(st) {
		t.Fatalf("first GET = %q (%s); want the primary's /base/a.txt, a miss", body, st)
	}
	if got := primary.requests(); len(got) != 1 || got[0] != "GET /base/a.txt "+primaryHost+" " {
		t.Errorf("the primary saw %q; want one GET /base/a.txt with Host %s", got, primaryHost)
	}
	if body, st = get("/ext/a.txt?cc=max-age%3D60"); body != "primary /base/a.txt" || !isHit(st) {
		t.Errorf("second GET = %q (%s); want a hit", body, st)
	}
	if got := primary.requests(); len(got) != 0 {
		t.Errorf("a hit reached the primary: %q", got)
	}

	// A response to revalidate: the edge asks with its ETag, gets 304,
	// and serves what it stored.
	get("/ext/b.txt?cc=no-cache")
	primary.requests()
	if body, _ = get("/ext/b.txt?cc=no-cache"); body != "primary /base/b.txt" {
		t.Errorf("revalidated GET = %q; want the stored body", body)
	}
	if got := primary.requests(); len(got) != 1 || !strings.HasSuffix(got[0], ` "primary-/base/b.txt"`) {
		t.Errorf("revalidation sent %q; want one GET with If-None-Match of the stored ETag", got)
	}

	// Purge by URL: the next GET goes to the primary.
	req, _ := http.NewRequest("PURGE", base+"/ext/a.txt?cc=max-age%3D60", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PURGE = %v, %v", resp, err)
	}
	if _, st = get("/ext/a.txt?cc=max-age%3D60"); isHit(st) {
		t.Errorf("GET after PURGE was a hit (%s)", st)
	}
	if len(backup.requests()) != 0 {
		t.Error("the backup served while the primary was up")
	}

	// The primary fails its checks: the backup serves, with its own Host.
	primary.up.Store(false)
	backupHost := strings.TrimPrefix(backup.srv.URL, "http://")
	waitBody(t, base+"/ext/c.txt", "backup /base/c.txt", 10*time.Second)
	if got := backup.requests(); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "GET /base/c.txt "+backupHost+" ") {
		t.Errorf("the backup saw %q; want GET /base/c.txt with Host %s", got, backupHost)
	}
	primary.up.Store(true)
	waitBody(t, base+"/ext/d.txt", "primary /base/d.txt", 10*time.Second)
}

// waitBody GETs url until it answers 200 with want, within timeout.
func waitBody(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
			if resp.StatusCode == http.StatusOK && string(b) == want {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: last %s after %s; want 200 %q", url, last, timeout, want)
}
