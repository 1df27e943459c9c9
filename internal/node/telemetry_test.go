package node

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// scrapeText returns the node's metrics exposition.
func scrapeText(t *testing.T, tel *nodeTelemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// TestDeployAndJobMetrics: the ends of deploys and job runs, as the
// deploy driver and the job runner report them, are counted by outcome.
func TestDeployAndJobMetrics(t *testing.T) {
	tel := newTelemetry(&config.Stack{JobNames: []string{"report"}})
	start := time.Unix(1795000000, 0)
	tel.deployEnded("web", deploy.Record{Result: deploy.ResultSucceeded, Started: start, Finished: start.Add(40 * time.Second)})
	tel.deployEnded("web", deploy.Record{Result: deploy.ResultRolledBack, Started: start, Finished: start.Add(7 * time.Second)})
	tel.jobRan("report", cron.Run{Result: cron.ResultOK})
	tel.jobRan("report", cron.Run{Result: cron.ResultTimeout})
	tel.jobRan("report", cron.Run{Result: cron.ResultSkipped})
	tel.jobRan("report", cron.Run{Result: cron.ResultMissed, Missed: 3})
	text := scrapeText(t, tel)
	for _, want := range []string{
		`tandem_deploys_total{app="web",outcome="succeeded"} 1`,
		`tandem_deploys_total{app="web",outcome="rolled_back"} 1`,
		`tandem_deploy_duration_seconds_bucket{app="web",outcome="succeeded",le="30"} 0`,
		`tandem_deploy_duration_seconds_bucket{app="web",outcome="succeeded",le="60"} 1`,
		`tandem_deploy_duration_seconds_sum{app="web",outcome="rolled_back"} 7`,
		`tandem_job_runs_total{job="report",outcome="ok"} 1`,
		`tandem_job_runs_total{job="report",outcome="timeout"} 1`,
		`tandem_job_runs_total{job="report",outcome="skipped"} 1`,
		`tandem_job_missed_total{job="report"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestTelemetryWiring: the stack file's health check paths reach the
// edge's observer (their requests end as active requests but count
// nowhere else), its jobs have a missed series from the start, and the
// series the observer feeds reach the status page's API.
func TestTelemetryWiring(t *testing.T) {
	st := &config.Stack{
		AppNames: []string{"web", "api"},
		Apps: map[string]*config.App{
			"web": {Health: config.HealthCheck{Path: "/healthz"}},
			"api": {},
		},
		JobNames: []string{"report"},
	}
	tel := newTelemetry(st)
	requests := []telemetry.Request{
		{App: "web", Route: "/", Method: "GET", Path: "/healthz", Status: 200, Duration: time.Millisecond},
		{App: "web", Route: "/", Method: "GET", Path: "/", Status: 500, Duration: time.Millisecond},
		{App: "api", Route: "/api", Method: "GET", Path: "/healthz", Status: 200, Duration: time.Millisecond},
	}
	for _, r := range requests {
		tel.observer.RequestStarted(r.App)
		tel.observer.ObserveRequest(r)
	}
	text := scrapeText(t, tel)
	for _, want := range []string{
		`http_server_requests_total{app="web",method="GET",route="/",status_class="5xx"} 1` + "\n",
		`http_server_requests_total{app="api",method="GET",route="/api",status_class="2xx"} 1` + "\n",
		`http_server_active_requests{app="web"} 0` + "\n",
		`tandem_job_missed_total{job="report"} 0` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, `http_server_requests_total{app="web",method="GET",route="/",status_class="2xx"}`) {
		t.Error("/metrics counts web's health check")
	}

	s := tel.Series(time.Minute)
	if s.StepSeconds != 1 || len(s.Apps) != 2 {
		t.Fatalf("Series(1m): step %d, apps %d; want 1, 2", s.StepSeconds, len(s.Apps))
	}
	web := s.Apps["web"]
	if len(web.T) != 60 || len(web.RPS) != 60 || len(web.P99MS) != 60 {
		t.Fatalf("Series(1m) web: %d t, %d rps, %d p99; want 60 of each", len(web.T), len(web.RPS), len(web.P99MS))
	}
	// The current second is left out of windows: the request shows once
	// it has passed, if it has; the health check never does.
	var total float64
	for _, v := range web.RPS {
		if !math.IsNaN(v) {
			total += v
		}
	}
	if total != 0 && total != 1 {
		t.Errorf("Series(1m) web: rps adds up to %v; want 1 (or 0 within the first second)", total)
	}
}

// readingApp reads each request's body and answers 204.
type readingApp struct{}

func (readingApp) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusNoContent, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// TestEdgeMetrics: the edge's connection limit and the request bodies it
// held reach the metrics, read from a real edge at the scrape.
func TestEdgeMetrics(t *testing.T) {
	tel := newTelemetry(&config.Stack{})
	front, err := edge.New(edge.Options{
		Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": readingApp{}}, Routes: []edge.Route{{Path: "/", App: "web"}},
		MaxConnections: 40, BodyBuffer: 1 << 10, BodyDisk: 8 << 10, BodyTempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tel.metrics.WatchEdge(func() telemetry.EdgeSample { return edgeSample(front) }); err != nil {
		t.Fatal(err)
	}
	for size, want := range map[int]int{4 << 10: http.StatusNoContent, 16 << 10: http.StatusInsufficientStorage} {
		rec := httptest.NewRecorder()
		front.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/upload", strings.NewReader(strings.Repeat("x", size))))
		if rec.Code != want {
			t.Fatalf("POST of %d bytes = %d; want %d", size, rec.Code, want)
		}
	}
	text := scrapeText(t, tel)
	for _, want := range []string{
		"tandem_edge_connections 0",
		"tandem_edge_connections_max 40",
		"tandem_edge_connections_limit_reached_total 0",
		"tandem_edge_bodies_spilled_total 2",
		"tandem_edge_bodies_refused_total 1",
		`tandem_edge_body_bytes{tier="disk"} 0`,
		`tandem_edge_body_bytes{tier="memory"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
