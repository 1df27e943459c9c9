package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// observed records what an Observer is told.
type observed struct {
	mu      sync.Mutex
	started []string
	infos   []telemetry.Request
}

func (o *observed) RequestStarted(app string) {
	o.mu.Lock()
	o.started = append(o.started, app)
	o.mu.Unlock()
}

func (o *observed) ObserveRequest(i telemetry.Request) {
	o.mu.Lock()
	o.infos = append(o.infos, i)
	o.mu.Unlock()
}

// TestObserverAndAccessLog: every request is reported once, with its
// route's label (never the URL), the cache's outcome and the edge's own
// error kind; the access log line carries the same, and the instance.
func TestObserverAndAccessLog(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, "page")
	}))
	defer app.Close()
	cache, err := httpcache.New(httpcache.Options{Memory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	obs := new(observed)
	addr := app.Listener.Addr().String()
	routes := []Route{{Host: "Wiki.Example", Path: "/pages", App: "web", Cache: &httpcache.RouteOptions{}}}
	web := namedServer{toServer: toServer{addr}, names: map[string]string{addr: "web-1"}}
	s, log := newTestEdge(t, map[string]http.RoundTripper{"web": web}, routes, func(o *Options) {
		o.Cache, o.Observer = cache, obs
	})
	for _, target := range []string{"http://wiki.example/pages/a?x=1", "http://wiki.example/pages/a?x=1", "http://other.example/"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	}

	want := []struct {
		app, route, path, cache, errKind string
		status                           int
		upstream                         bool
	}{
		{"web", "wiki.example/pages", "/pages/a", "miss", "", 200, true},
		{"web", "wiki.example/pages", "/pages/a", "hit", "", 200, false},
		{"", "", "/", "", "no_route", 404, false},
	}
	if len(obs.infos) != len(want) {
		t.Fatalf("observer told of %d requests; want %d: %+v", len(obs.infos), len(want), obs.infos)
	}
	lines := log.lines()
	if len(lines) != len(want) {
		t.Fatalf("access log has %d lines; want %d", len(lines), len(want))
	}
	for i, w := range want {
		got := obs.infos[i]
		if got.App != w.app || got.Route != w.route || got.Path != w.path || got.Cache != w.cache || got.Error != w.errKind ||
			got.Status != w.status || got.Method != "GET" || (got.Upstream > 0) != w.upstream || got.Duration <= 0 || got.Duration < got.Upstream {
			t.Errorf("request %d: observed %+v; want %+v", i, got, w)
		}
		l := lines[i]
		if l.Cache != w.cache || l.Error != w.errKind || (l.UpstreamMS > 0) != w.upstream || (l.Instance == "web-1") != w.upstream {
			t.Errorf("request %d: access line %+v; want cache %q, error %q, upstream time and instance %v", i, l, w.cache, w.errKind, w.upstream)
		}
	}
	if len(obs.started) != 2 || obs.started[0] != "web" || obs.started[1] != "web" {
		t.Errorf("RequestStarted for %q; want web twice (the unrouted request has no app)", obs.started)
	}
	if b := obs.infos[0].Bytes; b != 4 {
		t.Errorf("observed bytes = %d; want 4", b)
	}
}

// namedServer is an upstream that names its targets, as a balancer does.
type namedServer struct {
	toServer
	names map[string]string // addr -> target
}

func (n namedServer) TargetAt(addr string) string { return n.names[addr] }

func TestRouteLabel(t *testing.T) {
	tests := []struct{ host, path, want string }{
		{"", "", "/"},
		{"*", "/api", "/api"},
		{"Example.COM", "/", "example.com/"},
		{"*.example.com", "/blog", "*.example.com/blog"},
	}
	for _, tt := range tests {
		if got := routeLabel(tt.host, tt.path); got != tt.want {
			t.Errorf("routeLabel(%q, %q) = %q; want %q", tt.host, tt.path, got, tt.want)
		}
	}
}
