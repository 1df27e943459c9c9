package node

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/pgha"
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

// fakeDatabase is a database whose status the test sets: what a member or
// a follower reports is pgha's to test; this tests what the node makes of
// it.
type fakeDatabase struct {
	status pgha.Status
	routes pgha.Routes
}

func (f *fakeDatabase) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeDatabase) Routes() (pgha.Routes, <-chan struct{}) {
	return f.routes, make(chan struct{})
}
func (f *fakeDatabase) Status() pgha.Status { return f.status }
func (f *fakeDatabase) Credentials(context.Context) (pgha.Credentials, error) {
	return pgha.Credentials{}, errors.New("not in this test")
}
func (f *fakeDatabase) Switchover(context.Context, string) error {
	return errors.New("not in this test")
}

// TestDatabaseMetrics: the database's status as the member reports it,
// every configured member (one without a record as down), the leader
// change and demotion events, and a real endpoint's counters after it
// refused a client while failing over reach the metrics.
func TestDatabaseMetrics(t *testing.T) {
	tel := newTelemetry(&config.Stack{})
	db := &fakeDatabase{
		status: pgha.Status{Name: "a", Role: "primary", Leader: "a", SyncStandby: "b", Synchronous: true, StoreReachable: true,
			Members: []pgha.MemberStatus{
				{Name: "a", Role: "primary", Leader: true, Timeline: 2, Reachable: true},
				{Name: "b", Role: "standby", Timeline: 2, ReplayLSN: 0x3000000, LagBytes: 4096, LagSecs: 0.5, Sync: "sync", Streaming: true, Reachable: true},
				{Name: "d", Role: "stopped", Timeline: 1, LagBytes: 0x3001000, Reachable: true}, // no replay position yet
			}},
		routes: pgha.Routes{Primary: "10.0.0.1:5432", Standby: "10.0.0.2:5432"},
	}
	write, err := pgha.NewEndpoint(pgha.EndpointOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := write.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- write.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("endpoint Run: %v", err)
		}
	}()
	// followRoutes, which points the endpoint at routes.Primary, does not
	// run: the endpoint refuses as while failing over.
	d := &dbPart{db: db, endpoint: write}
	if err := tel.metrics.WatchDatabase(func() telemetry.DatabaseSample { return d.sample([]string{"a", "b", "c", "d"}) }); err != nil {
		t.Fatal(err)
	}
	refusedWhileFailingOver(t, write.Addr().String())
	tel.databaseEvent(pgha.Event{Kind: pgha.EventFailover, Member: "a", From: "c"})
	tel.databaseEvent(pgha.Event{Kind: pgha.EventDemoted, Member: "a"})
	tel.databaseEvent(pgha.Event{Kind: pgha.EventFailsafe, Member: "a"})
	text := scrapeText(t, tel)
	for _, want := range []string{
		`tandem_db_role{role="primary"} 1`,
		"tandem_db_sync_standbys 1",
		`tandem_db_member_up{member="c"} 0`,
		`tandem_db_member_up{member="b"} 1`,
		`tandem_db_member_role{member="d",role="stopped"} 1`,
		`tandem_db_leader{member="a"} 1`,
		`tandem_db_member_timeline{member="b"} 2`,
		`tandem_db_replication_lag_bytes{member="b"} 4096`,
		`tandem_db_replication_lag_seconds{member="b"} 0.5`,
		`tandem_db_leader_changes_total{kind="failover"} 1`,
		`tandem_db_leader_changes_total{kind="switchover"} 0`,
		"tandem_db_demotions_total 1",
		`tandem_db_endpoint_routed{endpoint="primary"} 1`,
		`tandem_db_endpoint_accepted_total{endpoint="primary"} 1`,
		`tandem_db_endpoint_refused_total{endpoint="primary",reason="no_target"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, absent := range []string{`tandem_db_replication_lag_bytes{member="a"}`, `tandem_db_replication_lag_bytes{member="d"}`, `endpoint="standby"`} {
		if strings.Contains(text, absent) {
			t.Errorf("/metrics has %q; want it absent", absent)
		}
	}
}

// refusedWhileFailingOver connects to an endpoint without a target and
// wants SQLSTATE 57P03 in answer to its startup message.
func refusedWhileFailingOver(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "wiki", "database": "wiki"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := msg.(*pgproto3.ErrorResponse); !ok || e.Code != "57P03" {
		t.Fatalf("endpoint without a target answered %#v; want ErrorResponse 57P03", msg)
	}
}
