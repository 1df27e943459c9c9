package admin

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/headless"
)

// The page in a real browser against the real admin handler, with the
// endpoints this branch does not have yet (series, checks) and bearer
// auth faked to their contracts.

const browserToken = "s3cret token/+"

// fakeNode is what the fake admin API answers.
type fakeNode struct {
	Deployer // only History is called
	now      time.Time
	// db is the database in the node's status; nil for a stack without.
	db *DatabaseStatus

	// gone, once set, makes every API request after the first status
	// request fail as if the node had died: the connection is closed
	// without an answer.
	gone atomic.Bool

	mu       sync.Mutex // guards the fields below
	auth     []string   // Authorization headers of API requests
	statuses int        // status requests seen
}

func (f *fakeNode) status(context.Context) Status {
	inst := func(name, zone string, reqs uint64) InstanceStatus {
		return InstanceStatus{Name: name, Release: "v2", Zone: zone, State: "running", Health: "healthy", Requests: reqs, MemoryLimit: 256 << 20}
	}
	return Status{
		Node: "n1", Zone: "a", Site: "home", Version: "test", StartedAt: f.now.Add(-time.Hour), Edge: []string{"127.0.0.1:8080"},
		Apps: []AppStatus{
			{Name: "web", Desired: 3, Healthy: 3, Release: "v2", Gate: GateStatus{Mode: "open"},
				Instances: []InstanceStatus{inst("web-1", "a", 120), inst("web-2", "a", 130), inst("web-3", "a", 110)}},
			{Name: "api", Desired: 1, Healthy: 1, Release: "v7", Gate: GateStatus{Mode: "open"},
				Instances: []InstanceStatus{inst("api-1", "a", 50)}},
		},
		Database: f.db,
		Sites: &SitesStatus{Node: "n1", Site: "cloud", LeaderSite: "home", Leading: "cloud", Mode: "emergency",
			Emergency: &EmergencyStatus{Site: "home", Since: f.now.Add(-time.Minute), By: "w1", Cause: "no node of site home reached the control plane's quorum for 30s"},
			Sites: []SiteStatus{{Name: "home", Leader: true, Nodes: []string{"h1"}, LagBytes: -1, LagSeconds: -1},
				{Name: "cloud", Primary: true, Up: true, Nodes: []string{"n1"}, UpNodes: []string{"n1"}, LagBytes: -1, LagSeconds: -1},
				{Name: "witness", Up: true, Nodes: []string{"w1"}, UpNodes: []string{"w1"}, LagBytes: -1, LagSeconds: -1}}},
		Backup: &BackupStatus{Store: "s3://backups/shop/", Schedule: "0 3 * * *", NextBackup: f.now.Add(5 * time.Hour),
			LastBackup: &BackupInfo{ID: "20261206T030000Z", Source: "db-2", Finished: f.now.Add(-7 * time.Hour), DataBytes: 1 << 30, StoredBytes: 300 << 20},
			LastTest:   &RestoreTestInfo{ID: "t1", Started: f.now.Add(-3 * time.Hour), OK: true},
			Archive: &ArchiveInfo{LastArchived: "000000020000000100000042", LastArchivedAt: f.now.Add(-20 * time.Minute), WALWaiting: 80,
				WALWaitingBytes: 80 << 24, DiskFree: 2 << 30, StoreError: "store unreachable: connection refused"},
			Alarms: []BackupAlarm{{Name: "store-unreachable", Node: "n1", Since: f.now.Add(-20 * time.Minute),
				Message: "the backup store s3://backups/shop/ does not answer n1: connection refused; 80 WAL segments (1.2 GiB) wait in pg_wal, 2.0 GiB free on its disk"}}},
	}
}

func (f *fakeNode) History(_ context.Context, app string) (History, error) {
	return History{App: app, Current: "v2", Deploys: []DeployRecord{
		{ID: 1, Kind: "deploy", Who: "ci", To: "v1", Started: f.now.Add(-2 * time.Hour), Finished: f.now.Add(-2 * time.Hour).Add(5 * time.Second), Duration: 5 * time.Second, Result: "succeeded"},
		{ID: 2, Kind: "deploy", Who: "ci", From: "v1", To: "v2", Started: f.now.Add(-5 * time.Minute), Finished: f.now.Add(-5 * time.Minute).Add(4 * time.Second), Duration: 4 * time.Second, Result: "succeeded"},
	}}, nil
}

// series answers GET /v1/series by its contract: 15 one-second steps a
// minute, with gaps (null) where no request was seen.
func (f *fakeNode) series(w http.ResponseWriter, r *http.Request) {
	end := f.now.Truncate(time.Second)
	const n = 900
	type appSeries struct {
		T        []int64    `json:"t"`
		RPS      []float64  `json:"rps"`
		Errors   []*float64 `json:"errors"`
		P50      []*float64 `json:"p50_ms"`
		P95      []*float64 `json:"p95_ms"`
		P99      []*float64 `json:"p99_ms"`
		HitRatio []*float64 `json:"hit_ratio"`
	}
	apps := map[string]*appSeries{}
	for _, app := range []string{"web", "api"} {
		s := &appSeries{}
		for i := range n {
			t := end.Add(time.Duration(i-n+1) * time.Second)
			rps := 10 + 5*math.Sin(float64(i)/30)
			if i%97 < 5 { // a quiet stretch now and then
				rps = 0
			}
			s.T = append(s.T, t.Unix())
			s.RPS = append(s.RPS, rps)
			if rps == 0 {
				s.Errors, s.P50, s.P95, s.P99, s.HitRatio = append(s.Errors, nil), append(s.P50, nil), append(s.P95, nil), append(s.P99, nil), append(s.HitRatio, nil)
				continue
			}
			val := func(v float64) *float64 { return &v }
			s.Errors = append(s.Errors, val(float64(i%7)/100))
			s.P50, s.P95, s.P99 = append(s.P50, val(2+rps/10)), append(s.P95, val(8+rps/5)), append(s.P99, val(20+rps/2))
			s.HitRatio = append(s.HitRatio, val(0.8))
		}
		apps[app] = s
	}
	writeJSON(w, http.StatusOK, map[string]any{"step_seconds": 1, "end": end, "apps": apps})
}

func (f *fakeNode) checks(w http.ResponseWriter, r *http.Request) {
	type point struct {
		At        time.Time `json:"at"`
		State     string    `json:"state"`
		LatencyMS float64   `json:"latency_ms"`
	}
	var hist []point
	for i := range 30 {
		state := "up"
		if i == 12 || i == 13 {
			state = "down"
		}
		hist = append(hist, point{At: f.now.Add(time.Duration(i-30) * time.Minute), State: state, LatencyMS: 40 + float64(i)})
	}
	writeJSON(w, http.StatusOK, []map[string]any{
		{"name": "home", "url": "https://example.test/", "state": "up", "since": f.now.Add(-17 * time.Minute), "last_checked": f.now.Add(-20 * time.Second), "latency_ms": 42.0, "history": hist},
		{"name": "login", "url": "https://example.test/login", "state": "down", "since": f.now.Add(-time.Minute), "last_checked": f.now.Add(-20 * time.Second), "latency_ms": 0.0, "last_error": "HTTP 502", "history": hist},
	})
}

// handler is the real admin handler for everything but the faked
// endpoints, behind a bearer check on /v1/.
func (f *fakeNode) handler(t *testing.T) http.Handler {
	// The page's token is checked here; the real handler behind gets a
	// real one.
	store := NewFileTokenStore(filepath.Join(t.TempDir(), "tokens.json"))
	tok, real, err := IssueToken("page", []Scope{ScopeRead}, "test", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Listen: "127.0.0.1:0", Status: f.status, Deploys: f,
		Tokens: store, Audit: NewAuditLog(filepath.Join(t.TempDir(), "audit.log"))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/series", f.series)
	mux.HandleFunc("GET /v1/checks", f.checks)
	mux.Handle("/", s.srv.Handler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			f.mu.Lock()
			f.auth = append(f.auth, r.Header.Get("Authorization"))
			if r.URL.Path == "/v1/status" {
				f.statuses++
			}
			dead := f.gone.Load() && f.statuses > 1
			f.mu.Unlock()
			if dead {
				panic(http.ErrAbortHandler) // the server closes the connection, no answer
			}
			if r.Header.Get("Authorization") != "Bearer "+browserToken {
				writeError(w, http.StatusUnauthorized, "no valid token")
				return
			}
			r.Header.Set("Authorization", "Bearer "+real)
		}
		mux.ServeHTTP(w, r)
	})
}

func startFakeNode(t *testing.T) (*fakeNode, string) {
	return startFakeNodeWith(t, nil)
}

// startFakeNodeWith starts a fake node whose status has db.
func startFakeNodeWith(t *testing.T, db *DatabaseStatus) (*fakeNode, string) {
	f := &fakeNode{now: time.Now(), db: db}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// TestPageInBrowser: with the token in the fragment, the page shows every
// instance, draws every chart with its points and the deploy inside the
// window, lists checks, deploys, and logs no error.
func TestPageInBrowser(t *testing.T) {
	b := headless.ForTest(t)
	f, base := startFakeNode(t)
	p := loadPage(t, b, base+"/#"+url.Values{"token": {browserToken}}.Encode())
	if body := p.Elements("data-ready"); len(body) != 1 || body[0]["data-ready"] != "1" {
		t.Fatalf("body data-ready = %v; want 1 (the first poll did not render)", body)
	}
	rows := map[string]bool{}
	for _, e := range p.Elements("data-instance") {
		rows[e["data-instance"]] = true
	}
	for _, in := range []string{"web-1", "web-2", "web-3", "api-1"} {
		if !rows[in] {
			t.Errorf("no row for instance %s; rows %v", in, rows)
		}
	}
	charts := p.Elements("data-chart")
	if len(charts) != 8 {
		t.Errorf("%d charts; want 4 per app, 8", len(charts))
	}
	for _, c := range charts {
		name := c["data-app"] + "/" + c["data-chart"]
		if pts, _ := strconv.Atoi(c["data-points"]); pts != 900 {
			t.Errorf("chart %s: data-points %q; want 900", name, c["data-points"])
		}
		if vals, _ := strconv.Atoi(c["data-values"]); vals < 800 {
			t.Errorf("chart %s: data-values %q; want most of 900", name, c["data-values"])
		}
		if c["data-markers"] != "1" {
			t.Errorf("chart %s: data-markers %q; want 1 (the deploy 5 minutes ago)", name, c["data-markers"])
		}
	}
	if n := len(p.Elements("data-check")); n != 2 {
		t.Errorf("%d check rows; want 2", n)
	}
	if n := len(p.Elements("data-site")); n != 3 {
		t.Errorf("%d site rows; want 3", n)
	}
	if s, _ := p.Text("sites-summary"); !strings.HasPrefix(s, "EMERGENCY, declared ") || !strings.Contains(s, "ago: site home unreachable") {
		t.Errorf("sites summary = %q; want the emergency first", s)
	}
	if n := len(p.Elements("data-deploy")); n != 4 {
		t.Errorf("%d deploy rows; want 4 (2 apps x 2)", n)
	}
	for _, e := range p.Elements("id") {
		if _, hidden := e["hidden"]; (e["id"] == "login" || e["id"] == "banner") && !hidden {
			t.Errorf("#%s shown while the node answers; want it hidden", e["id"])
		}
	}
	if e := p.Elements("data-backup"); len(e) != 1 || e[0]["data-backup"] != "failed" {
		t.Errorf("backup rows %v; want one, failed (an alarm is raised)", e)
	}
	if e := p.Elements("data-backup-alarm"); len(e) != 1 || e[0]["data-backup-alarm"] != "store-unreachable" {
		t.Errorf("backup alarm rows %v; want store-unreachable", e)
	}
	if node, _ := p.Text("node"); node != "n1" {
		t.Errorf("header node = %q; want n1", node)
	}
	if !isHidden(t, p, "database-section") {
		t.Error("#database-section shown for a stack without a database; want it hidden")
	}
	if os.Getenv("TANDEM_TEST_ARTIFACTS") != "" {
		shot := headless.ArtifactPath(t, "statuspage-fake.png")
		if p, err := b.Screenshot(t.Context(), base+"/#"+url.Values{"token": {browserToken}}.Encode(), shot); err != nil {
			t.Errorf("%v\n%s", err, p.Log)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.auth {
		if a != "Bearer "+browserToken {
			t.Errorf("API request with Authorization %q; want the token from the fragment", a)
			break
		}
	}
}

// TestPageRefusedToken: a wrong token gets the banner and the login form,
// and the page still logs no error.
func TestPageRefusedToken(t *testing.T) {
	b := headless.ForTest(t)
	_, base := startFakeNode(t)
	p := loadPage(t, b, base+"/#token=wrong")
	banner := p.Elements("role")
	if len(banner) != 1 || banner[0]["data-status"] != "401" {
		t.Errorf("banner %v; want one with data-status 401", banner)
	}
	if msg, _ := p.Text("banner"); !strings.Contains(msg, "refused the token") {
		t.Errorf("banner text %q; want it to say the token was refused", msg)
	}
	for _, e := range p.Elements("id") {
		if e["id"] == "login" {
			if _, hidden := e["hidden"]; hidden {
				t.Errorf("login form hidden after a 401; want it shown")
			}
		}
	}
}

// TestPageNodeGone: when the node stops answering, the page says so in
// the banner and keeps the last data, dimmed.
func TestPageNodeGone(t *testing.T) {
	b := headless.ForTest(t)
	f, base := startFakeNode(t)
	f.gone.Store(true)
	p := loadPage(t, b, base+"/#"+url.Values{"token": {browserToken}}.Encode())
	if body := p.Elements("data-ready"); len(body) != 1 {
		t.Errorf("body data-ready = %v; want the first poll rendered", body)
	}
	if msg, _ := p.Text("banner"); !strings.Contains(msg, "does not answer") {
		t.Errorf("banner text %q; want it to say the node does not answer", msg)
	}
	for _, e := range p.Elements("id") {
		if e["id"] == "main" && e["class"] != "stale" {
			t.Errorf("main class %q; want stale", e["class"])
		}
	}
	if n := len(p.Elements("data-instance")); n != 4 {
		t.Errorf("%d instance rows; want the last data's 4 kept", n)
	}
}

// isHidden reports whether the element with the given id has the hidden
// attribute; a missing element fails the test.
func isHidden(t *testing.T, p headless.Page, id string) bool {
	t.Helper()
	for _, e := range p.Elements("id") {
		if e["id"] == id {
			_, hidden := e["hidden"]
			return hidden
		}
	}
	t.Fatalf("the page has no #%s", id)
	return false
}

// loadPage loads the page at url in b and wants it to log no error.
func loadPage(t *testing.T, b *headless.Browser, url string) headless.Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	p, err := b.DumpDOM(ctx, url)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	if errs, ok := p.Text("errors"); !ok || errs != "" {
		t.Errorf("page errors (found %v): %s", ok, errs)
	}
	if len(p.Console) > 0 {
		t.Errorf("browser console:\n%s", strings.Join(p.Console, "\n"))
	}
	return p
}
