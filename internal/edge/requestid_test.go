package edge

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
)

func TestNewRequestID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if len(id) != 32 || !validRequestID(id) {
			t.Fatalf("newRequestID() = %q; want 32 hex digits", id)
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				t.Fatalf("newRequestID() = %q; want lowercase hex", id)
			}
		}
		if seen[id] {
			t.Fatalf("newRequestID() = %q twice in 1000 ids", id)
		}
		seen[id] = true
	}
}

// TestRequestIDThroughCache: on a cached route, the app gets the id the
// client gets back, on a miss as on a pass, and never the one an
// untrusted client sent; a trusted proxy's id is kept end to end.
func TestRequestIDThroughCache(t *testing.T) {
	var mu sync.Mutex
	var appSaw []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		appSaw = append(appSaw, r.Header.Get("X-Request-Id"))
		mu.Unlock()
		if r.URL.Query().Has("pass") {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		w.Write([]byte("ok"))
	}))
	defer app.Close()
	cache := runningCache(t)
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}},
		[]Route{{App: "web", Cache: &httpcache.RouteOptions{}}}, func(o *Options) { o.Cache = cache })

	tests := []struct {
		peer, target, wantOutcome string
		keepID                    bool
	}{
		{"192.0.2.9:1234", "http://wiki.example/a", httpcache.OutcomeMiss, false},
		{"192.0.2.9:1234", "http://wiki.example/a?pass", httpcache.OutcomeMiss, false},
		{"10.0.0.5:1234", "http://wiki.example/b", httpcache.OutcomeMiss, true},
		{"10.0.0.5:1234", "http://wiki.example/b?pass", httpcache.OutcomeMiss, true},
		{"192.0.2.9:1234", "http://wiki.example/a", httpcache.OutcomeHit, false},
	}
	for _, tt := range tests {
		mu.Lock()
		appSaw = nil
		mu.Unlock()
		req := httptest.NewRequest("GET", tt.target, nil)
		req.RemoteAddr = tt.peer
		req.Header.Set("X-Request-Id", "from-client")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if got := cache.Outcome(rec.Header()); got != tt.wantOutcome {
			t.Errorf("GET %s via %s: outcome %q; want %q", tt.target, tt.peer, got, tt.wantOutcome)
		}
		if (id == "from-client") != tt.keepID {
			t.Errorf("GET %s via %s: client got id %q; want the inbound one kept: %v", tt.target, tt.peer, id, tt.keepID)
		}
		if ids := rec.Header().Values("X-Request-Id"); len(ids) != 1 {
			t.Errorf("GET %s via %s: X-Request-Id = %q; want one value", tt.target, tt.peer, ids)
		}
		mu.Lock()
		saw := appSaw
		mu.Unlock()
		if tt.wantOutcome == httpcache.OutcomeHit {
			if len(saw) != 0 {
				t.Errorf("GET %s via %s: a hit reached the app", tt.target, tt.peer)
			}
			continue
		}
		if len(saw) != 1 || saw[0] != id {
			t.Errorf("GET %s via %s: app saw ids %q; want [%q] as the client got", tt.target, tt.peer, saw, id)
		}
	}
}
