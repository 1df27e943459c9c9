package telemetry

import (
	"strings"
	"testing"
	"time"
)

// TestTelemetryLeavesOutHealthChecks: requests to an app's health check
// path end as active requests but count nowhere else; other requests,
// a longer path under the health path included, reach the metrics and
// the series.
func TestTelemetryLeavesOutHealthChecks(t *testing.T) {
	c := new(clock)
	c.set(t0)
	m := NewMetrics()
	s := NewSeries(SeriesOptions{Apps: []string{"web", "api"}, Now: c.now})
	o := NewRequestObserver(m, s, map[string]string{"web": "/healthz", "api": ""})
	requests := []Request{
		{App: "web", Route: "/", Method: "GET", Path: "/healthz", Status: 200, Duration: time.Millisecond},
		{App: "web", Route: "/", Method: "GET", Path: "/healthz/deep", Status: 200, Duration: time.Millisecond},
		{App: "web", Route: "/", Method: "GET", Path: "/", Status: 500, Duration: time.Millisecond},
		{App: "api", Route: "/api", Method: "GET", Path: "/healthz", Status: 200, Duration: time.Millisecond},
	}
	for _, r := range requests {
		o.RequestStarted(r.App)
		o.ObserveRequest(r)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`http_server_requests_total{app="web",method="GET",route="/",status_class="2xx"} 1`,
		`http_server_requests_total{app="web",method="GET",route="/",status_class="5xx"} 1`,
		`http_server_requests_total{app="api",method="GET",route="/api",status_class="2xx"} 1`,
		`http_server_active_requests{app="web"} 0`,
		`http_server_active_requests{app="api"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	c.set(t0 + 1)
	w := s.Window(time.Minute)
	for app, want := range map[string]float64{"web": 2, "api": 1} {
		a, ok := w.Apps[app]
		if !ok || len(a.RPS) != 60 {
			t.Fatalf("Window(1m) app %s: %d steps (present %v); want 60", app, len(a.RPS), ok)
		}
		if got := a.RPS[59]; got != want {
			t.Errorf("Window(1m) app %s: rps of the last second = %v; want %v", app, got, want)
		}
	}
}
