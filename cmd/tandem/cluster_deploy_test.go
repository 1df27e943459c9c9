package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// clusterDeployStack is one node of a three-zone cluster that deploys:
// two instances of the test app, health gates short enough that a
// release that never becomes healthy fails within seconds.
const clusterDeployStack = `
cluster: { name: e2e, node: "{{node}}", zone: "{{zone}}", data_dir: "{{dir}}/data" }
edge:
  listen: "{{edge}}"
  timeouts: { upstream: 10s }
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 2
    health: { path: /healthz, interval: 300ms, timeout: 300ms, rise: 1, fall: 3, startup: 3s }
    restart: { min_backoff: 200ms, max_backoff: 1s }
    stop: { grace: 5s }
    deploy: { drain: 5s }
`

// span is when a node's part of a deploy began and ended, from its events.
type span struct{ first, last time.Time }

// deployJSON runs `tandem deploy ARGS... --json` at cn, calling onEvent
// for each event as it comes, and returns the events and the exit code.
func deployJSON(t *testing.T, cn *clusterNode, onEvent func(admin.DeployEvent), args ...string) ([]admin.DeployEvent, int) {
	t.Helper()
	var evs []admin.DeployEvent
	out := &lineWriter{each: func(line []byte) {
		var ev admin.DeployEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Errorf("deploy --json printed %q: %v", line, err)
			return
		}
		evs = append(evs, ev)
		onEvent(ev)
	}}
	var stderr syncBuffer
	code := runCLITo(t, out, &stderr, slices.Concat([]string{"deploy"}, args, []string{"--json"}, cn.adminArgs())...)
	if stderr.String() != "" {
		t.Logf("tandem deploy stderr: %s", stderr.String())
	}
	return evs, code
}

// webOf returns app web of a node's status.
func webOf(t *testing.T, cn *clusterNode) admin.AppStatus {
	t.Helper()
	st, err := cn.status()
	if err != nil {
		t.Fatalf("status of %s: %v", cn.name, err)
	}
	for _, a := range st.Apps {
		if a.Name == "web" {
			return a
		}
	}
	t.Fatalf("status of %s has no app web", cn.name)
	return admin.AppStatus{}
}

// TestClusterDeployZoneByZone: a deploy started at node A of a
// three-zone cluster, under GET load at all three edges, runs its release
// phase once, rolls zone a, then b, then c (never two at once), fails no
// request, and leaves every node on the new release; a second deploy
// asked meanwhile at another node is refused, naming the first. Then a
// release that fails its health gate in zone b only is rolled back on A,
// B rolls itself back, and C is never touched.
func TestClusterDeployZoneByZone(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterDeployStack)
	a, b, c := nodes[0], nodes[1], nodes[2]
	shared := t.TempDir()
	releaseLog := filepath.Join(shared, "release.log")
	releaseCmd := filepath.Join(shared, "release.sh")
	writeScript(t, releaseCmd, "#!/bin/sh\necho \"ran on $TANDEM_NODE\" >> "+releaseLog+"\n")
	failInB := filepath.Join(shared, "web-unhealthy-in-b.sh")
	writeScript(t, failInB, "#!/bin/sh\nif [ \"$TANDEM_ZONE\" = b ]; then export TESTAPP_UNHEALTHY=1; fi\nexec "+testappBin+" \"$@\"\n")

	l := startLoad(t, map[string]request{
		"a": get("http://" + a.edge + "/"), "b": get("http://" + b.edge + "/"), "c": get("http://" + c.edge + "/"),
	}, 10*time.Millisecond)
	defer l.stop()

	// Deploy v2 at A; once zone b rolls, a deploy asked at C is refused.
	var busy string
	var busyCode int
	evs, code := deployJSON(t, a, func(ev admin.DeployEvent) {
		if ev.Node == b.name && busy == "" {
			busy, busyCode = c.run("deploy", "web", "--env", "V=3")
		}
	}, "web", "--env", "V=2", "--release", releaseCmd)
	if code != 0 || len(evs) == 0 || evs[len(evs)-1].Result != "succeeded" {
		t.Fatalf("tandem deploy at node A: exit %d; want 0 with result succeeded; events:\n%s", code, eventLines(evs))
	}
	if busyCode == 0 || !strings.Contains(busy, "node-a") || !strings.Contains(busy, "v1 -> v2") {
		t.Errorf("a deploy at node C during A's: exit %d; want it refused, naming node A's deploy:\n%s", busyCode, busy)
	}
	spans := map[string]*span{}
	for _, ev := range evs {
		if ev.Node == "" {
			continue
		}
		s, ok := spans[ev.Node]
		if !ok {
			s = &span{first: ev.Time}
			spans[ev.Node] = s
		}
		s.last = ev.Time
	}
	for i := range nodes {
		if spans[nodes[i].name] == nil {
			t.Fatalf("no event from %s; events:\n%s", nodes[i].name, eventLines(evs))
		}
		if i > 0 {
			prev, cur := spans[nodes[i-1].name], spans[nodes[i].name]
			if !prev.last.Before(cur.first) {
				t.Errorf("%s rolled from %s, before %s had finished at %s: zones overlapped", nodes[i].name,
					cur.first.Format(time.StampMicro), nodes[i-1].name, prev.last.Format(time.StampMicro))
			}
		}
	}
	logged, err := os.ReadFile(releaseLog)
	if err != nil || string(logged) != "ran on node-a\n" {
		t.Errorf("release log = %q (%v); want the release phase run once, on node-a", logged, err)
	}
	for _, cn := range nodes {
		wantRuns(t, cn, "v2", "after the deploy")
	}

	// A release unhealthy in zone b: A rolls, B fails, A rolls back, C
	// is never touched.
	before := webOf(t, c).Instances
	out, code := a.run("deploy", "web", "--command", failInB, "--env", "V=3")
	t.Logf("tandem deploy failing in zone b:\n%s", out)
	if code != 1 {
		t.Errorf("deploy failing in zone b: exit %d; want 1", code)
	}
	for _, want := range []string{"[node-a]", "[node-b]", "ROLLBACK", "rolled back: node-b did not succeed", "v2 runs on node-a again"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[node-c]") {
		t.Errorf("node C took part in a deploy that failed in zone b:\n%s", out)
	}
	for _, cn := range nodes[:2] {
		wantRuns(t, cn, "v2", "after the deploy that failed in zone b")
	}
	after := webOf(t, c)
	if after.Release != "v2" || len(after.Instances) != len(before) {
		t.Errorf("node C after the failed deploy: %s with %d instances; want v2 untouched", after.Release, len(after.Instances))
	}
	for i, in := range after.Instances {
		if i < len(before) && (in.Name != before[i].Name || in.PID != before[i].PID) {
			t.Errorf("node C's instance %d: %s pid %d; want %s pid %d untouched", i, in.Name, in.PID, before[i].Name, before[i].PID)
		}
	}
	if logged, _ := os.ReadFile(releaseLog); strings.Count(string(logged), "ran on") != 2 {
		t.Errorf("release log = %q; want one run per deploy, two in all", logged)
	}

	// A release unhealthy everywhere fails on A and reaches no other node.
	pids := map[string][]int{}
	for _, cn := range nodes[1:] {
		for _, in := range webOf(t, cn).Instances {
			pids[cn.name] = append(pids[cn.name], in.PID)
		}
	}
	out, code = a.run("deploy", "web", "--env", "TESTAPP_UNHEALTHY=1")
	if code != 1 || !strings.Contains(out, "rolled back: node-a did not succeed") || strings.Contains(out, "[node-b]") || strings.Contains(out, "[node-c]") {
		t.Errorf("deploy unhealthy everywhere: exit %d; want 1, failed on node-a alone:\n%s", code, out)
	}
	for _, cn := range nodes[1:] {
		var now []int
		for _, in := range webOf(t, cn).Instances {
			now = append(now, in.PID)
		}
		if !slices.Equal(now, pids[cn.name]) {
			t.Errorf("%s's instances changed from pids %v to %v in a deploy that failed on node-a", cn.name, pids[cn.name], now)
		}
	}

	l.stop()
	for _, cn := range nodes {
		ok, failed := l.counts(cn.zone)
		if len(failed) > 0 {
			t.Errorf("GETs at %s: %d ok, %d failed, e.g. %q", cn.name, ok, len(failed), failed[:min(3, len(failed))])
		}
		if ok < 100 {
			t.Errorf("GETs at %s: only %d succeeded; the load did not run", cn.name, ok)
		}
	}
}

// wantRuns checks that cn's app web runs version on both its instances.
func wantRuns(t *testing.T, cn *clusterNode, version, when string) {
	t.Helper()
	web := webOf(t, cn)
	if web.Release != version || len(web.Instances) != 2 {
		t.Errorf("%s %s: %s with %d instances; want %s with 2", cn.name, when, web.Release, len(web.Instances), version)
	}
	for _, in := range web.Instances {
		if in.Release != version {
			t.Errorf("%s %s: instance %s runs %s; want %s", cn.name, when, in.Name, in.Release, version)
		}
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func eventLines(evs []admin.DeployEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Time.Format(time.StampMilli) + " [" + ev.Node + "] " + ev.Step + " " + ev.Message + " " + ev.Result + "\n")
	}
	return b.String()
}

// TestClusterDeployConverges: the desired release is the cluster's. A
// deploy while node C is stopped succeeds on A and B and says that C was
// not reached and will converge; meanwhile A's status shows C on the old
// release, down; started again, C serves the new release, not its stack
// file's, and the mismatch is gone.
func TestClusterDeployConverges(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterDeployStack)
	a, c := nodes[0], nodes[2]
	c.stop() // as SIGTERM does
	if code := c.wait(60 * time.Second); code != 0 {
		t.Fatalf("node C stopped with exit %d", code)
	}
	a.waitFor("node C gone from the view", 30*time.Second, func(st admin.Status) bool {
		return st.Cluster != nil && len(st.Cluster.Nodes) == 2
	})

	out, code := a.run("deploy", "web", "--env", "V=2")
	t.Logf("tandem deploy with node C down:\n%s", out)
	if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "node-c") || !strings.Contains(out, "converges to v2") {
		t.Fatalf("deploy with node C down: exit %d; want 0, succeeded, naming node-c as converging to v2", code)
	}
	status, code := a.run("status")
	if code != 0 || !strings.Contains(status, "node node-c runs v1 (down: converges to v2 when it returns)") {
		t.Errorf("status at A while C is down: exit %d; want node-c shown on v1, down:\n%s", code, status)
	}

	c.restart(t)
	c.waitFor("node C on v2", 60*time.Second, func(st admin.Status) bool {
		for _, app := range st.Apps {
			if app.Name == "web" && app.Release == "v2" && app.Healthy == 2 && len(app.Instances) == 2 &&
				app.Instances[0].Release == "v2" && app.Instances[1].Release == "v2" {
				return true
			}
		}
		return false
	})
	a.waitFor("no node differing from the cluster's release", 30*time.Second, func(st admin.Status) bool {
		for _, app := range st.Apps {
			if app.Name == "web" {
				return app.Cluster != nil && app.Cluster.Version == "v2" && len(app.Cluster.Differ) == 0
			}
		}
		return false
	})
	if out, code := c.run("history", "web"); code != 0 || !strings.Contains(out, "converged to the cluster's release") {
		t.Errorf("history at C: exit %d; want the convergence recorded:\n%s", code, out)
	}
}
