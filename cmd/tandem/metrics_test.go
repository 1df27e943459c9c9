package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestMetricsAndSeries: known traffic through the edge shows in the
// admin listener's /metrics with exact counts, the health check path
// left out, and in /v1/series; the access log tells cache outcomes,
// instances and upstream times.
func TestMetricsAndSeries(t *testing.T) {
	t.Parallel()
	n := startNode(t, cachedTestapp)
	st := n.waitFor("2 healthy instances", 20*time.Second, healthy("web", 2))
	base := "http://" + n.edge

	send := func(path string, times, wantStatus int) {
		t.Helper()
		for range times {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != wantStatus {
				t.Fatalf("GET %s = %d; want %d", path, resp.StatusCode, wantStatus)
			}
		}
	}
	send("/cacheable/page", 30, 200) // 1 miss, 29 hits
	send("/status/500", 4, 500)      // 4, not 5: five 5xx in a row would eject an instance
	send("/healthz", 10, 200)        // not counted

	text := adminGet(t, n, "/metrics")
	counters := []struct {
		series string
		want   float64
	}{
		{`http_server_request_duration_seconds_count{app="web",method="GET",route="/",status_class="2xx"}`, 30},
		{`http_server_request_duration_seconds_count{app="web",method="GET",route="/",status_class="5xx"}`, 4},
		{`http_server_requests_total{app="web",method="GET",route="/",status_class="2xx"}`, 30},
		{`http_server_requests_total{app="web",method="GET",route="/",status_class="5xx"}`, 4},
		{`http_server_active_requests{app="web"}`, 0},
		{`tandem_cache_requests_total{status="hit"}`, 29},
	}
	for _, c := range counters {
		if got, ok := metricValue(text, c.series); !ok || got != c.want {
			t.Errorf("/metrics: %s = %v (found %v); want %v", c.series, got, ok, c.want)
		}
	}
	if strings.Contains(text, `status_class="4xx"`) || strings.Contains(text, `route="/healthz"`) {
		t.Error("/metrics shows series that no request made")
	}
	for _, a := range st.Apps {
		for _, in := range a.Instances {
			series := fmt.Sprintf(`tandem_instance_up{app="web",instance=%q}`, in.Name)
			if got, ok := metricValue(text, series); !ok || got != 1 {
				t.Errorf("/metrics: %s = %v (found %v); want 1", series, got, ok)
			}
		}
	}
	// The edge is read at the scrape: this test's client keeps its
	// connection to the edge open.
	for series, atLeast := range map[string]float64{"tandem_edge_connections": 1, "tandem_edge_connections_max": 1, "tandem_edge_bodies_refused_total": 0,
		`tandem_upstream_hedges_total{app="web"}`: 0, `tandem_upstream_per_try_timeout_seconds{app="web"}`: 0.001} {
		if got, ok := metricValue(text, series); !ok || got < atLeast {
			t.Errorf("/metrics: %s = %v (found %v); want at least %v", series, got, ok, atLeast)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}

	checkSeries(t, n)
	checkAccessLog(t, n)
}

// checkSeries waits for the traffic's last second to end, then wants
// /v1/series to count every request but the health checks.
func checkSeries(t *testing.T, n *node) {
	t.Helper()
	var s admin.Series
	var total float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := json.Unmarshal([]byte(adminGet(t, n, "/v1/series?window=1m")), &s); err != nil {
			t.Fatal(err)
		}
		total = 0
		for _, v := range s.Apps["web"].RPS {
			if !math.IsNaN(v) {
				total += v
			}
		}
		if total == 34 {
			break
		}
	}
	web := s.Apps["web"]
	if s.StepSeconds != 1 || len(web.T) != 60 || len(web.RPS) != 60 || len(web.Errors) != 60 || len(web.P95MS) != 60 || len(web.HitRatio) != 60 {
		t.Fatalf("/v1/series?window=1m: step %d, %d t, %d rps; want 1s steps, 60 of each", s.StepSeconds, len(web.T), len(web.RPS))
	}
	if total != 34 {
		t.Errorf("/v1/series?window=1m: web's rps add up to %v; want 34 (health checks left out)", total)
	}
	var errored bool
	for i, v := range web.RPS {
		if v > 0 && (math.IsNaN(web.P95MS[i]) || web.P95MS[i] <= 0 || math.IsNaN(web.Errors[i])) {
			t.Errorf("step %d: rps %v but p95 %v, errors %v; want numbers", i, v, web.P95MS[i], web.Errors[i])
		}
		errored = errored || web.Errors[i] > 0
	}
	if !errored {
		t.Error("/v1/series: no step shows the 5xx answers")
	}
	if body := adminGetStatus(t, n, "/v1/series?window=2h", http.StatusBadRequest); !strings.Contains(body, "window") {
		t.Errorf("GET /v1/series?window=2h answered %q; want an error naming the window", body)
	}
}

// checkAccessLog wants the cache outcome, the instance and the upstream
// time in the access log lines of the cacheable page.
func checkAccessLog(t *testing.T, n *node) {
	t.Helper()
	type line struct {
		Path       string  `json:"path"`
		Cache      string  `json:"cache"`
		Instance   string  `json:"instance"`
		UpstreamMS float64 `json:"upstream_ms"`
	}
	seen := map[string]int{}
	for _, s := range strings.Split(n.stdout.String(), "\n") {
		var l line
		if json.Unmarshal([]byte(s), &l) != nil || l.Path != "/cacheable/page" {
			continue
		}
		seen[l.Cache]++
		if l.Cache == "miss" && (!strings.HasPrefix(l.Instance, "web-") || l.UpstreamMS <= 0) {
			t.Errorf("access log of the miss: instance %q, upstream_ms %v; want the instance and its time", l.Instance, l.UpstreamMS)
		}
		if l.Cache == "hit" && (l.Instance != "" || l.UpstreamMS != 0) {
			t.Errorf("access log of a hit: instance %q, upstream_ms %v; want neither", l.Instance, l.UpstreamMS)
		}
	}
	if seen["miss"] != 1 || seen["hit"] != 29 {
		t.Errorf("access log of /cacheable/page: outcomes %v; want 1 miss, 29 hits", seen)
	}
}

// adminGet GETs path from the admin listener and wants a 200.
func adminGet(t *testing.T, n *node, path string) string {
	t.Helper()
	return adminGetStatus(t, n, path, http.StatusOK)
}

func adminGetStatus(t *testing.T, n *node, path string, want int) string {
	t.Helper()
	tok, err := os.ReadFile(n.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET admin %s = %d; want %d\n%s", path, resp.StatusCode, want, b)
	}
	return string(b)
}

// metricValue finds the sample of series (name and labels, exactly as
// exposed) in a text exposition.
// waitMetric waits until series on n's /metrics is at least want.
func waitMetric(t *testing.T, n *node, series string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, ok := metricValue(adminGet(t, n, "/metrics"), series)
		if ok && got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %s = %v (found %v) after %s; want at least %v", series, got, ok, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricValue(text, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}
