package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// slowPage is an origin for /page, tagged "page", whose first response
// waits for release (a render that takes a while); with headerFirst its
// header is sent before the wait. Later responses are immediate. Each
// response says which call it answers: "v1", "v2"...
func slowPage(release <-chan struct{}, headerFirst bool) (http.HandlerFunc, *atomic.Int64) {
	var calls atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		v := calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "page")
		if v == 1 {
			if headerFirst {
				w.WriteHeader(http.StatusOK)
			}
			<-release
		}
		w.Write([]byte("v" + strconv.FormatInt(v, 10)))
	}, &calls
}

// TestJoinAfterPurgeFetchesAgain: a request that starts after a purge
// never gets the response of a fetch that started before it, whatever
// selected the response (URL, tag, ban, everything) and whether its
// header had arrived. It starts a fetch of its own instead.
func TestJoinAfterPurgeFetchesAgain(t *testing.T) {
	tests := []struct {
		name        string
		ev          Event
		headerFirst bool
	}{
		{"url", Event{Kind: PurgeURL, URL: "http://example.org/page"}, false},
		{"url after header", Event{Kind: PurgeURL, URL: "http://example.org/page"}, true},
		{"soft url", Event{Kind: PurgeURL, URL: "http://example.org/page", Soft: true}, false},
		{"tag", Event{Kind: PurgeTag, Tags: []string{"page"}}, false},
		{"tag after header", Event{Kind: PurgeTag, Tags: []string{"other", "page"}}, true},
		{"ban", Event{Kind: PurgeBan, Path: "^/page$"}, false},
		{"ban after header", Event{Kind: PurgeBan, Host: `^example\.org$`}, true},
		{"all", Event{Kind: PurgeAll}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				fn, calls := slowPage(release, tt.headerFirst)
				e := newEnv(t, RouteOptions{}, fn)
				var wg sync.WaitGroup
				var leader, reader string
				var leaderStatus string
				wg.Go(func() {
					r := e.doAsync("GET", "http://example.org/page")
					leader, leaderStatus = r.Body.String(), r.Header().Get("Cache-Status")
				})
				synctest.Wait() // the first render is under way
				if _, err := e.c.Apply(tt.ev); err != nil {
					t.Fatalf("Apply(%+v): %v", tt.ev, err)
				}
				wg.Go(func() { reader = e.doAsync("GET", "http://example.org/page").Body.String() })
				synctest.Wait() // the reader has finished, or waits for the first render
				close(release)
				wg.Wait()
				e.c.waitIdle()
				if leader != "v1" {
					t.Errorf("leader body = %q; want v1", leader)
				}
				if reader != "v2" {
					t.Errorf("reader that started after the purge got %q; want v2, a fetch of its own", reader)
				}
				if n := calls.Load(); n != 2 {
					t.Errorf("origin calls = %d; want 2", n)
				}
				if !tt.headerFirst && strings.Contains(leaderStatus, "; stored") {
					t.Errorf("leader Cache-Status = %q; want no stored: the purge keeps the response out", leaderStatus)
				}
				if r := e.get("http://example.org/page"); r.Body.String() != "v2" || !isHit(r) {
					t.Errorf("after both: %q hit %v; want the v2 stored", r.Body.String(), isHit(r))
				}
			})
		})
	}
}

// TestJoinAfterUnrelatedPurge: a purge that does not select the response
// in flight (its tags are known) leaves coalescing alone.
func TestJoinAfterUnrelatedPurge(t *testing.T) {
	for _, ev := range []Event{
		{Kind: PurgeTag, Tags: []string{"other"}},
		{Kind: PurgeURL, URL: "http://example.org/elsewhere"},
		{Kind: PurgeBan, Path: "^/elsewhere"},
	} {
		t.Run(string(ev.Kind), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				fn, calls := slowPage(release, true)
				e := newEnv(t, RouteOptions{}, fn)
				var wg sync.WaitGroup
				var reader, status string
				wg.Go(func() { e.doAsync("GET", "http://example.org/page") })
				synctest.Wait()
				e.c.Apply(ev)
				wg.Go(func() {
					r := e.doAsync("GET", "http://example.org/page")
					reader, status = r.Body.String(), r.Header().Get("Cache-Status")
				})
				synctest.Wait()
				close(release)
				wg.Wait()
				if reader != "v1" || !strings.Contains(status, "collapsed") || calls.Load() != 1 {
					t.Errorf("reader got %q (Cache-Status %q) with %d origin calls; want v1, collapsed, 1", reader, status, calls.Load())
				}
			})
		})
	}
}

// TestPurgeDuringRevalidationNotServedToJoiner: a 304 that validates a
// response purged while the revalidation was under way is not handed to
// a request that started after the purge.
func TestPurgeDuringRevalidationNotServedToJoiner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, RouteOptions{}, nil)
		release := make(chan struct{})
		var calls atomic.Int64
		e.o.set(func(w http.ResponseWriter, r *http.Request) {
			v := calls.Add(1)
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("Etag", `"e1"`)
			switch v {
			case 2:
				<-release
				w.WriteHeader(http.StatusNotModified) // the validation of v1, started before the purge
				return
			case 3:
				w.Header().Set("Etag", `"e3"`)
			}
			w.Write([]byte("v" + strconv.FormatInt(v, 10)))
		})
		e.get("http://example.org/page")
		e.clock.Advance(20 * time.Second) // stale: the next request revalidates
		var wg sync.WaitGroup
		var reader, readerStatus, leaderStatus string
		wg.Go(func() { leaderStatus = e.doAsync("GET", "http://example.org/page").Header().Get("Cache-Status") })
		synctest.Wait()
		e.c.Apply(Event{Kind: PurgeURL, URL: "http://example.org/page"})
		wg.Go(func() {
			r := e.doAsync("GET", "http://example.org/page")
			reader, readerStatus = r.Body.String(), r.Header().Get("Cache-Status")
		})
		synctest.Wait()
		close(release)
		wg.Wait()
		if reader != "v3" {
			t.Errorf("reader after the purge got %q (Cache-Status %q); want v3", reader, readerStatus)
		}
		if strings.Contains(leaderStatus, "; stored") {
			t.Errorf("revalidating request's Cache-Status = %q; want no stored: the purge keeps the validated copy out", leaderStatus)
		}
	})
}
