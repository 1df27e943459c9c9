package httpcache

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/disktest"
)

// TestFullDisk: with the filesystem under the disk tier full (here with
// no floor: something filled it at once), responses are served whole and
// kept in memory, the failure is counted and logged once, no partial file
// is left; once space is freed the tier stores again.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 8<<20)
	logs := &recordHandler{}
	o := Options{Disk: &DiskOptions{Path: dir, Size: 64 << 20, MinFree: -1}, MemoryObjectMax: 4 << 10, Logger: slog.New(logs)}
	small := strings.Repeat("s", 1000)    // in memory, written through to disk
	large := strings.Repeat("L", 100<<10) // spilled to disk as it streams
	e := newEnvOpts(t, o, RouteOptions{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		body := small
		if strings.HasPrefix(r.URL.Path, "/large") {
			body = large
		}
		fmt.Fprint(w, body+r.URL.Path)
	})
	get := func(path string) *httpResult {
		r := e.get("http://example.org" + path)
		return &httpResult{code: r.Code, body: r.Body.String(), hit: isHit(r)}
	}
	if r := get("/large-before"); r.code != 200 || !strings.HasSuffix(r.body, "/large-before") {
		t.Fatalf("GET /large-before = %d, %d bytes", r.code, len(r.body))
	}
	fill := disktest.Fill(t, dir, 0)
	for _, p := range []string{"/small-1", "/large-1", "/small-2", "/large-2"} {
		if r := get(p); r.code != 200 || !strings.HasSuffix(r.body, p) || len(r.body) < 1000 {
			t.Fatalf("GET %s on a full disk = %d, %d bytes", p, r.code, len(r.body))
		}
		if r := get(p); !r.hit {
			t.Errorf("GET %s again on a full disk: not a hit (kept in memory)", p)
		}
	}
	if r := get("/large-before"); !r.hit || !strings.HasSuffix(r.body, "/large-before") {
		t.Errorf("GET /large-before (stored before the disk filled) = hit %v, %d bytes; want a whole hit", r.hit, len(r.body))
	}
	s := e.c.Stats()
	if s.DiskErrors == 0 || !s.DiskDisabled {
		t.Errorf("Stats: DiskErrors %d, DiskDisabled %v; want the failure counted and the tier off", s.DiskErrors, s.DiskDisabled)
	}
	if n := logs.count("disk cache disabled, serving from memory only"); n != 1 {
		t.Errorf("disk failure logged %d times; want once", n)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("%d partial files left in tmp/", len(entries))
	}

	fill.Remove()
	e.c.housekeep()
	if s := e.c.Stats(); s.DiskDisabled {
		t.Fatalf("disk tier still off after space was freed")
	}
	before := e.c.Stats().DiskItems
	get("/large-after")
	if s := e.c.Stats(); s.DiskItems != before+1 {
		t.Errorf("disk items %d after storing /large-after; want %d", s.DiskItems, before+1)
	}
}

type httpResult struct {
	code int
	body string
	hit  bool
}

// TestDiskMinFree: the tier keeps off its filesystem's last MinFree
// bytes: it stops storing there, and when something else takes space
// it evicts objects to give it back; memory keeps serving; with room
// again it stores again.
func TestDiskMinFree(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 16<<20)
	const minFree = 4 << 20
	logs := &recordHandler{}
	o := Options{Disk: &DiskOptions{Path: dir, Size: 64 << 20, MinFree: minFree}, MemoryObjectMax: 4 << 10, Logger: slog.New(logs)}
	body := strings.Repeat("L", 100<<10)
	e := newEnvOpts(t, o, RouteOptions{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, body+r.URL.Path)
	})
	// Fill the tier: with 64 MiB of budget, the filesystem is the limit.
	for i := range 200 {
		p := fmt.Sprintf("/obj-%d", i)
		if r := e.get("http://example.org" + p); r.Code != 200 || !strings.HasSuffix(r.Body.String(), p) {
			t.Fatalf("GET %s = %d", p, r.Code)
		}
	}
	e.c.housekeep()
	if free := disktest.Free(t, dir); free < minFree-(200<<10) {
		t.Errorf("free space %d after filling the tier; want it kept near %d", free, minFree)
	}
	if s := e.c.Stats(); s.DiskErrors != 0 || s.DiskBytes == 0 {
		t.Errorf("Stats: DiskErrors %d, DiskBytes %d; want no error and objects on disk", s.DiskErrors, s.DiskBytes)
	}
	if n := logs.count("disk cache shrinking: its filesystem is nearly full; serving from memory what does not fit"); n != 1 {
		t.Errorf("logged the shrink %d times; want once", n)
	}

	// Something else takes 3 MiB: the tier gives it back.
	other := disktest.Fill(t, dir, 1<<20)
	before := e.c.Stats().DiskBytes
	e.c.housekeep()
	waitFor(t, "the tier to evict down to the floor", func() bool {
		e.c.disk.index.CleanUp()
		return disktest.Free(t, dir) >= minFree-(200<<10)
	})
	if after := e.c.Stats().DiskBytes; after >= before {
		t.Errorf("disk bytes %d after the filesystem filled; want fewer than %d", after, before)
	}
	if !e.c.Stats().DiskLow {
		t.Errorf("Stats.DiskLow = false below MinFree")
	}
	if r := e.get("http://example.org/new"); r.Code != 200 || !strings.HasSuffix(r.Body.String(), "/new") {
		t.Fatalf("GET /new while the tier is low = %d", r.Code)
	}
	if r := e.get("http://example.org/new"); !isHit(r) {
		t.Errorf("GET /new again while the tier is low: not a hit from memory")
	}

	other.Remove()
	e.c.housekeep()
	if n := logs.count("disk cache storing again: its filesystem has room"); n != 1 {
		t.Errorf("logged the tier storing again %d times; want once", n)
	}
	items := e.c.Stats().DiskItems
	e.get("http://example.org/after")
	e.c.disk.index.CleanUp()
	if got := e.c.Stats().DiskItems; got != items+1 {
		t.Errorf("disk items %d after /after; want %d", got, items+1)
	}
}
