package admin

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fixedSeries answers every window with one step, and records the
// window asked for.
type fixedSeries struct{ asked time.Duration }

func (f *fixedSeries) Series(window time.Duration) Series {
	f.asked = window
	nan := math.NaN()
	return Series{StepSeconds: 1, End: time.Unix(1795000002, 0).UTC(), Apps: map[string]AppSeries{
		"web": {T: []int64{1795000000, 1795000001}, RPS: Values{nan, 12.5}, Errors: Values{nan, 0.04},
			P50MS: Values{nan, 1.2}, P95MS: Values{nan, 3}, P99MS: Values{nan, 7}, HitRatio: Values{nan, nan}},
	}}
}

func getStatus(t *testing.T, c *Client, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSeriesEndpoint(t *testing.T) {
	src := new(fixedSeries)
	c := startTestServer(t, Options{Series: src})

	code, body := getStatus(t, c, "/v1/series")
	if code != 200 || src.asked != DefaultSeriesWindow {
		t.Fatalf("GET /v1/series = %d, window %s; want 200, %s", code, src.asked, DefaultSeriesWindow)
	}
	compact := strings.Join(strings.Fields(body), "")
	for _, want := range []string{`"step_seconds":1`, `"end":"2026-11-18T`, `"t":[1795000000,1795000001]`,
		`"rps":[null,12.5]`, `"errors":[null,0.04]`, `"p50_ms":[null,1.2]`, `"p95_ms":[null,3]`, `"p99_ms":[null,7]`, `"hit_ratio":[null,null]`} {
		if !strings.Contains(compact, want) {
			t.Errorf("GET /v1/series body lacks %s:\n%s", want, body)
		}
	}

	s, err := c.Series(context.Background(), time.Minute)
	if err != nil || src.asked != time.Minute {
		t.Fatalf("Client.Series(1m) = %v, window asked %s; want no error, 1m", err, src.asked)
	}
	web := s.Apps["web"]
	if len(web.RPS) != 2 || !math.IsNaN(web.RPS[0]) || web.RPS[1] != 12.5 || !math.IsNaN(web.HitRatio[1]) {
		t.Errorf("Client.Series(1m) web = %+v; want NaN where null came", web)
	}

	for _, w := range []string{"0", "30s", "61m", "2h", "15", "abc", "-5m", "1m0.5s"} {
		code, body := getStatus(t, c, "/v1/series?window="+w)
		if code != 400 || !strings.Contains(body, "window") {
			t.Errorf("GET /v1/series?window=%s = %d %s; want 400 naming the window", w, code, body)
		}
	}
	for _, w := range []string{"1m", "60m", "1h", "90s"} {
		if code, _ := getStatus(t, c, "/v1/series?window="+w); code != 200 {
			t.Errorf("GET /v1/series?window=%s = %d; want 200", w, code)
		}
	}
}

func TestSeriesAndMetricsAbsent(t *testing.T) {
	c := startTestServer(t, Options{})
	if _, err := c.Series(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "HTTP 501") {
		t.Errorf("Client.Series without a source = %v; want HTTP 501", err)
	}
	if code, _ := getStatus(t, c, "/metrics"); code != 404 {
		t.Errorf("GET /metrics without a handler = %d; want 404", code)
	}
}

func TestMetricsMounted(t *testing.T) {
	c := startTestServer(t, Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "up 1\n")
	})})
	if code, body := getStatus(t, c, "/metrics"); code != 200 || body != "up 1\n" {
		t.Errorf("GET /metrics = %d %q; want 200 %q", code, body, "up 1\n")
	}
}

func TestValuesJSON(t *testing.T) {
	tests := []struct {
		in   Values
		want string
	}{
		{nil, "[]"},
		{Values{}, "[]"},
		{Values{0, 1.5, math.NaN(), math.Inf(1), 1e-7}, "[0,1.5,null,null,1e-07]"},
	}
	for _, tt := range tests {
		b, err := tt.in.MarshalJSON()
		if err != nil || string(b) != tt.want {
			t.Errorf("Values(%v).MarshalJSON() = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back Values
		if err := back.UnmarshalJSON(b); err != nil || len(back) != len(tt.in) {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %d values", b, back, err, len(tt.in))
		}
	}
	var v Values
	if err := v.UnmarshalJSON([]byte(`{"a":1}`)); err == nil || errors.Is(err, ErrBadRequest) {
		t.Errorf("UnmarshalJSON of an object = %v; want a decode error", err)
	}
}
