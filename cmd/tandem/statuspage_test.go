package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/headless"
)

const statusPageStack = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 3
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
jobs:
  tick:
    schedule: "@every 1s"
    command: ["/bin/sh", "-c", "echo tick"]
`

// TestStatusPage: the status page `tandem ui` points at, loaded in
// headless Chromium from a running node after some traffic and a deploy,
// shows a row for every instance and the jobs' runs, draws its charts
// (when the node serves /v1/series), and logs no error. A screenshot is
// kept as an artifact.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	b := headless.ForTest(t)
	n := startNode(t, statusPageStack)
	n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	if out, code := n.cli("deploy", "web", "--env", "TESTAPP_VERSION=two"); code != 0 {
		t.Fatalf("tandem deploy = %d:\n%s", code, out)
	}
	st := n.waitFor("3 healthy instances after the deploy", 20*time.Second, healthy("web", 3))
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 200 {
		if _, err := get("http://"+n.edge+"/page/"+strconv.Itoa(i%20))(t.Context(), client); err != nil {
			t.Fatalf("traffic: %v", err)
		}
	}

	// A read-only token for the browser, as the help of tandem ui advises.
	issued, code := n.tandem("token", "create", "viewer", "--scope", "read", "--json")
	if code != 0 {
		t.Fatalf("tandem token create: exit %d\n%s", code, issued)
	}
	var tok admin.IssuedToken
	if err := json.Unmarshal([]byte(issued), &tok); err != nil {
		t.Fatalf("decode the token: %v\n%s", err, issued)
	}
	token := tok.Value
	var out, errOut bytes.Buffer
	if code := runCLITo(t, &out, &errOut, "ui", "--admin", n.admin, "--token", token); code != 0 {
		t.Fatalf("tandem ui: exit %d\n%s", code, errOut.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) != 2 || lines[0] != "http://"+n.admin+"/" || lines[1] != "http://"+n.admin+"/#token="+token {
		t.Fatalf("tandem ui printed %q; want the page's address, then it with #token=", out.String())
	}
	pageURL := lines[1]

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	p, err := b.DumpDOM(ctx, pageURL)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	if errs, ok := p.Text("errors"); !ok || errs != "" {
		t.Errorf("page errors (#errors found: %v):\n%s", ok, errs)
	}
	if len(p.Console) > 0 {
		t.Errorf("browser console:\n%s", strings.Join(p.Console, "\n"))
	}
	if body := p.Elements("data-ready"); len(body) != 1 || body[0]["data-ready"] != "1" {
		t.Fatalf("body data-ready = %v; want 1 (the first poll did not render)", body)
	}
	rows := map[string]bool{}
	for _, e := range p.Elements("data-instance") {
		rows[e["data-instance"]] = true
	}
	for _, a := range st.Apps {
		for _, in := range a.Instances {
			if !rows[in.Name] {
				t.Errorf("no row for instance %s; rows %v", in.Name, rows)
			}
		}
	}
	if len(p.Elements("data-deploy")) == 0 {
		t.Errorf("no deploy rows; want the deploy of web")
	}
	if len(p.Elements("data-run")) == 0 {
		t.Errorf("no job run rows; want runs of tick")
	}
	checkCharts(t, p, seriesStatus(t, n.admin, token))

	shot := headless.ArtifactPath(t, "statuspage.png")
	if p, err := b.Screenshot(ctx, pageURL, shot); err != nil {
		t.Errorf("%v\n%s", err, p.Log)
	}
}

// seriesStatus is the HTTP status of the node's series endpoint.
func seriesStatus(t *testing.T, adminAddr, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+adminAddr+"/v1/series?window=15m", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkCharts wants the four charts of web, each with points, the
// request rate with values; only when the node serves series.
func checkCharts(t *testing.T, p headless.Page, series int) {
	t.Helper()
	charts := p.Elements("data-chart")
	if len(charts) != 4 {
		t.Errorf("%d charts; want 4 for web", len(charts))
	}
	if series != http.StatusOK {
		t.Logf("GET /v1/series = %d: not checking the charts' data", series)
		return
	}
	for _, c := range charts {
		if pts, _ := strconv.Atoi(c["data-points"]); pts == 0 {
			t.Errorf("chart %s/%s: data-points %q; want some", c["data-app"], c["data-chart"], c["data-points"])
		}
		if vals, _ := strconv.Atoi(c["data-values"]); c["data-chart"] == "rps" && vals == 0 {
			t.Errorf("chart %s/rps: no values after 200 requests", c["data-app"])
		}
	}
}
