package httpcache

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recordHandler counts log records by message.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func diskOpts(dir string) Options {
	return Options{Disk: &DiskOptions{Path: dir, Size: 64 << 20}, MemoryObjectMax: 4 << 10}
}

func TestDiskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	small := "small body"
	big := strings.Repeat("0123456789abcdef", 10<<10) // 160 KiB: streamed to disk only
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Surrogate-Key", "k-"+r.URL.Path[1:])
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte(small))
	}
	e := newEnvOpts(t, diskOpts(dir), RouteOptions{}, handler)
	e.get("http://example.org/small")
	e.get("http://example.org/big")
	if s := e.c.Stats(); s.DiskItems != 2 {
		t.Fatalf("disk items = %d; want 2", s.DiskItems)
	}

	// A purge right after a restart, before anything was read again,
	// reaches the stored objects (a node catching up on purges it missed).
	e1 := newEnvOpts(t, Options{Disk: &DiskOptions{Path: dir, Size: 64 << 20}, MemoryObjectMax: 4 << 10, Now: e.clock.Now}, RouteOptions{}, handler)
	if n, _ := e1.c.Apply(Event{Kind: PurgeTag, Tags: []string{"k-small"}}); n != 1 {
		t.Errorf("tag purge right after a restart removed %d; want 1", n)
	}
	if r := e1.get("http://example.org/small"); isHit(r) {
		t.Errorf("/small served from disk after its tag was purged")
	}
	e1.c.waitIdle() // stored again, for what follows

	// "Restart": a new cache on the same directory, same clock.
	e2 := newEnvOpts(t, Options{Disk: &DiskOptions{Path: dir, Size: 64 << 20}, MemoryObjectMax: 4 << 10, Now: e.clock.Now}, RouteOptions{}, handler)
	for path, want := range map[string]string{"/small": small, "/big": big} {
		r := e2.get("http://example.org" + path)
		if !isHit(r) || r.Body.String() != want {
			t.Errorf("%s after restart: hit %v, body %d bytes; want hit with %d bytes", path, isHit(r), r.Body.Len(), len(want))
		}
	}
	if n := e2.o.n(); n != 0 { // e1's fetch above counts on its own origin
		t.Errorf("origin calls after restart = %d; want 0", n)
	}
	// Tags survive too.
	if n, _ := e2.c.Apply(Event{Kind: PurgeTag, Tags: []string{"k-big"}}); n != 1 {
		t.Errorf("tag purge after restart removed %d; want 1", n)
	}
	if r := e2.get("http://example.org/big"); isHit(r) {
		t.Errorf("/big still cached after its tag was purged")
	}
}

func TestBrokenDiskDegradesToMemory(t *testing.T) {
	dir := t.TempDir()
	logs := &recordHandler{}
	o := diskOpts(dir)
	o.Logger = slog.New(logs)
	e := newEnvOpts(t, o, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte(strings.Repeat("x", 1000) + r.URL.Path))
	})
	// The disk breaks: its temp directory becomes a file.
	if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		if r := e.get("http://example.org" + p); r.Code != 200 || !strings.HasSuffix(r.Body.String(), p) {
			t.Fatalf("GET %s with a broken disk = %d %q", p, r.Code, r.Body.String())
		}
		if r := e.get("http://example.org" + p); !isHit(r) {
			t.Errorf("GET %s not served from memory with a broken disk", p)
		}
	}
	if s := e.c.Stats(); !s.DiskDisabled {
		t.Errorf("Stats.DiskDisabled = false; want true")
	}
	if n := logs.count("disk cache disabled, serving from memory only"); n != 1 {
		t.Errorf("disk failure logged %d times; want once", n)
	}
	// The disk comes back: the probe turns the tier on again.
	os.Remove(filepath.Join(dir, "tmp"))
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	e.c.housekeep()
	if s := e.c.Stats(); s.DiskDisabled {
		t.Errorf("disk tier still off after it became usable")
	}
}

func TestTinyDisk(t *testing.T) {
	dir := t.TempDir()
	o := Options{Disk: &DiskOptions{Path: dir, Size: 4 << 10}, MemoryObjectMax: 1 << 10}
	body := strings.Repeat("y", 100<<10)
	e := newEnvOpts(t, o, RouteOptions{}, fixed(nil, 200, body, "Cache-Control", "max-age=60"))
	for range 2 {
		if r := e.get("http://example.org/"); r.Code != 200 || r.Body.Len() != len(body) {
			t.Fatalf("GET with a tiny disk = %d, %d bytes", r.Code, r.Body.Len())
		}
	}
	if s := e.c.Stats(); s.DiskBytes > 4<<10 || s.DiskDisabled {
		t.Errorf("disk bytes %d (budget 4 KiB), disabled %v", s.DiskBytes, s.DiskDisabled)
	}
}

func TestMaxObjectSize(t *testing.T) {
	body := strings.Repeat("z", 300)
	for _, withLength := range []bool{true, false} {
		e := newEnv(t, RouteOptions{MaxObjectSize: 100}, nil)
		e.o.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			if !withLength {
				w.Write([]byte(body[:50]))
				w.(http.Flusher).Flush() // no Content-Length: chunked
				w.Write([]byte(body[50:]))
				return
			}
			w.Write([]byte(body))
		})
		for range 2 {
			r := e.get("http://example.org/")
			if r.Body.String() != body || isHit(r) {
				t.Errorf("Content-Length %v: body %d bytes, hit %v; want all 300 bytes, not stored", withLength, r.Body.Len(), isHit(r))
			}
		}
	}
}

func TestKeyOptions(t *testing.T) {
	ro := RouteOptions{Key: KeyOptions{SortQuery: true, DropQuery: []string{"utm_*", "fbclid"}, Headers: []string{"X-Device"}}}
	e := newEnv(t, ro, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte(r.URL.RawQuery + "|" + r.Header.Get("X-Device")))
	})
	e.get("http://example.org/p?b=2&a=1&utm_source=x")
	for _, u := range []string{"/p?a=1&b=2", "/p?b=2&a=1&utm_medium=y&fbclid=z", "/p?a=1&UTM_Campaign=q&b=2"} {
		if r := e.get("http://example.org" + u); !isHit(r) {
			t.Errorf("%s did not share the entry of /p?b=2&a=1", u)
		}
	}
	if r := e.get("http://example.org/p?a=1&b=3"); isHit(r) {
		t.Errorf("different query shared an entry")
	}
	if r := e.get("http://example.org/p?a=1&b=2", "X-Device", "mobile"); isHit(r) {
		t.Errorf("a key header value shared an entry")
	}
	if r := e.get("http://example.org/p?a=1&b=2", "X-Device", "mobile"); !isHit(r) || r.Body.String() != "a=1&b=2|mobile" {
		t.Errorf("key header variant: hit %v %q", isHit(r), r.Body.String())
	}
	if r := e.get("http://Example.ORG:80/p?a=1&b=2"); !isHit(r) {
		t.Errorf("host case and default port changed the key")
	}
}

func TestBypassCookies(t *testing.T) {
	ro := RouteOptions{BypassCookies: []string{"wordpress_logged_in_*", "__ac", "*session*"}}
	e := newEnv(t, ro, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/")
	for _, c := range []string{"wordpress_logged_in_abc=1", "a=b; __ac=xyz", "PHPSESSION=1", "my_session_id=2"} {
		if r := e.get("http://example.org/", "Cookie", c); isHit(r) {
			t.Errorf("Cookie %q served from cache", c)
		}
	}
	if r := e.get("http://example.org/", "Cookie", "theme=dark"); !isHit(r) {
		t.Errorf("an unrelated cookie bypassed the cache")
	}
}

func TestTagHeadersStripped(t *testing.T) {
	hdr := []string{"Cache-Control", "max-age=60", "Surrogate-Key", "a b", "Cache-Tag", "c", "Tandem-Cache-Control", "max-age=60", "CDN-Cache-Control", "max-age=60"}
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", hdr...))
	for range 2 {
		r := e.get("http://example.org/")
		if r.Header().Get("Surrogate-Key") != "" || r.Header().Get("Cache-Tag") != "" || r.Header().Get("Tandem-Cache-Control") != "" {
			t.Errorf("tag or tandem-targeted fields delivered: %v", r.Header())
		}
		if r.Header().Get("CDN-Cache-Control") == "" {
			t.Errorf("CDN-Cache-Control not forwarded")
		}
	}
	k := newEnv(t, RouteOptions{KeepTagHeaders: true}, fixed(nil, 200, "x", hdr...))
	k.get("http://example.org/")
	if r := k.get("http://example.org/"); r.Header().Get("Surrogate-Key") != "a b" {
		t.Errorf("KeepTagHeaders: Surrogate-Key = %q", r.Header().Get("Surrogate-Key"))
	}
}
