package httpcache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is an in-process upstream handler that counts its calls and
// records the requests it got.
type origin struct {
	calls atomic.Int64
	mu    sync.Mutex
	reqs  []*http.Request
	fn    http.HandlerFunc
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	o.mu.Lock()
	o.reqs = append(o.reqs, r)
	fn := o.fn
	o.mu.Unlock()
	fn(w, r)
}

func (o *origin) set(fn http.HandlerFunc) {
	o.mu.Lock()
	o.fn = fn
	o.mu.Unlock()
}

func (o *origin) last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reqs[len(o.reqs)-1]
}

func (o *origin) n() int { return int(o.calls.Load()) }

// env is a cache with one route in front of an origin.
type env struct {
	t     *testing.T
	clock *fakeClock
	c     *Cache
	o     *origin
	h     http.Handler
}

func newEnv(t *testing.T, ro RouteOptions, fn http.HandlerFunc) *env {
	t.Helper()
	return newEnvOpts(t, Options{}, ro, fn)
}

func newEnvOpts(t *testing.T, o Options, ro RouteOptions, fn http.HandlerFunc) *env {
	t.Helper()
	clock := newClock()
	if o.Now == nil {
		o.Now = clock.Now
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	org := &origin{fn: fn}
	h, err := c.Handler(ro, org)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	t.Cleanup(c.waitIdle)
	return &env{t: t, clock: clock, c: c, o: org, h: h}
}

// waitIdle waits for the cache's background goroutines (tests only).
func (c *Cache) waitIdle() { c.tasks.Wait() }

// do sends a request through the cache and waits for background work.
func (e *env) do(method, target string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := e.doAsync(method, target, hdr...)
	e.c.waitIdle()
	return rec
}

// doAsync sends a request without waiting for background work.
func (e *env) doAsync(method, target string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}

func (e *env) get(target string, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(http.MethodGet, target, hdr...)
}

// fixed returns an origin handler that answers with the given status,
// header pairs and body, and a Date of the clock's now.
func fixed(clock *fakeClock, status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if clock != nil {
			w.Header().Set("Date", clock.Now().Format(http.TimeFormat))
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func isHit(rec *httptest.ResponseRecorder) bool {
	return strings.Contains(rec.Header().Get("Cache-Status"), "; hit")
}

// readBody reads and closes a response body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// waitFor waits until cond holds, failing after a generous deadline; it
// polls with Gosched, not sleeps.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// httptestGet sends a GET for target to h and returns the recording.
func httptestGet(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}
