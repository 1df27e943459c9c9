package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d; want 200", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	for range 3 {
		m.RequestStarted("web")
		m.ObserveRequest(Request{App: "web", Route: "/", Method: "GET", Status: 200, Duration: 2 * time.Millisecond})
		m.RequestEnded("web")
	}
	m.RequestStarted("web") // still in flight
	m.ObserveRequest(Request{App: "web", Route: "/", Method: "PURGE", Status: 503, Duration: time.Millisecond, Error: "no_instance"})
	m.ObserveRequest(Request{Method: "get", Status: 404, Duration: time.Millisecond, Error: "no_route"})
	m.DeployFinished("web", "rolled back", 90*time.Second)
	m.JobFinished("report", "ok")
	m.JobMissed("report", 0)
	if err := m.WatchCache(func() httpcache.Stats {
		return httpcache.Stats{Hits: 29, StaleHits: 4, StaleServed: 5, Misses: 1, Passes: 2, MemoryBytes: 4096, MemoryItems: 3, DiskLow: true,
			PurgesByKind: map[httpcache.EventKind]uint64{httpcache.PurgeTag: 2, httpcache.PurgeURL: 1}}
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchInstances(func() []InstanceSample {
		return []InstanceSample{{App: "web", Instance: "web-1", Up: true, Restarts: 2, Attempts: 10}, {App: "web", Instance: "web-2"}}
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchInstances(func() []InstanceSample { return nil }); err == nil {
		t.Error("a second instance collector was registered; want an error")
	}

	text := scrape(t, m)
	for _, want := range []string{
		`http_server_request_duration_seconds_bucket{app="web",method="GET",route="/",status_class="2xx",le="0.001"} 0`,
		`http_server_request_duration_seconds_bucket{app="web",method="GET",route="/",status_class="2xx",le="0.0025"} 3`,
		`http_server_request_duration_seconds_count{app="web",method="GET",route="/",status_class="2xx"} 3`,
		`http_server_requests_total{app="web",method="GET",route="/",status_class="2xx"} 3`,
		`http_server_requests_total{app="web",method="_OTHER",route="/",status_class="5xx"} 1`,
		`http_server_requests_total{app="",method="_OTHER",route="",status_class="4xx"} 1`,
		`http_server_errors_total{app="web",kind="no_instance"} 1`,
		`http_server_errors_total{app="",kind="no_route"} 1`,
		`http_server_active_requests{app="web"} 1`,
		`tandem_deploys_total{app="web",outcome="rolled_back"} 1`,
		`tandem_deploy_duration_seconds_count{app="web",outcome="rolled_back"} 1`,
		`tandem_job_runs_total{job="report",outcome="ok"} 1`,
		`tandem_job_missed_total{job="report"} 0`,
		`tandem_cache_requests_total{status="hit"} 25`,
		`tandem_cache_requests_total{status="stale"} 5`,
		`tandem_cache_requests_total{status="miss"} 1`,
		`tandem_cache_requests_total{status="pass"} 2`,
		`tandem_cache_purges_total{kind="tag"} 2`,
		`tandem_cache_purges_total{kind="url"} 1`,
		`tandem_cache_bytes{tier="memory"} 4096`,
		`tandem_cache_objects{tier="memory"} 3`,
		`tandem_cache_disk_low 1`,
		`tandem_instance_up{app="web",instance="web-1"} 1`,
		`tandem_instance_up{app="web",instance="web-2"} 0`,
		`tandem_instance_restarts_total{app="web",instance="web-1"} 2`,
		`tandem_upstream_attempts_total{app="web",instance="web-1"} 10`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(text, want+"\n") && !(strings.HasSuffix(want, " ") && strings.Contains(text, want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// TestMetricsOwnRegistry: two Metrics do not share series, as two nodes
// in one test process must not.
func TestMetricsOwnRegistry(t *testing.T) {
	a, b := NewMetrics(), NewMetrics()
	a.ObserveRequest(Request{App: "web", Route: "/", Method: "GET", Status: 200})
	if text := scrape(t, b); strings.Contains(text, "http_server_requests_total{") {
		t.Errorf("a request observed by one Metrics shows in another's")
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := NewMetrics()
	r := Request{App: "web", Route: "/", Method: "GET", Status: 200, Duration: 1234 * time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(r)
	}
}

// TestClusterMetrics: the control plane's state, data_dir's free space
// and the writes refused for it.
func TestClusterMetrics(t *testing.T) {
	m := NewMetrics()
	sample := ClusterSample{Quorum: false, Nodes: map[string]int{"a": 1}, DataDirFree: 3 << 20, DataDirFloor: 128 << 20,
		DataDirLow: true, WritesRefused: 7, NoSpaceAlarm: true}
	if err := m.WatchCluster(func() ClusterSample { return sample }); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`tandem_cluster_quorum 0`,
		`tandem_cluster_etcd_nospace_alarm 1`,
		`tandem_data_dir_free_bytes 3.145728e+06`,
		`tandem_data_dir_floor_bytes 1.34217728e+08`,
		`tandem_data_dir_low 1`,
		`tandem_control_plane_writes_refused_total{cause="disk"} 7`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	sample.DataDirFree = -1
	if text := scrape(t, m); strings.Contains(text, "tandem_data_dir_free_bytes ") {
		t.Errorf("/metrics has tandem_data_dir_free_bytes while it is unknown")
	}
}
