package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// healthWatch samples an app's healthy instances through the admin API
// while a test runs, to show that no moment had fewer than wanted.
type healthWatch struct {
	stop    func()
	mu      sync.Mutex // guards the fields below
	min     int
	samples int
	errs    int
}

func watchHealthy(n *node, app string) *healthWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &healthWatch{min: 1 << 30}
	var wg sync.WaitGroup
	cl := n.client()
	wg.Go(func() {
		for ctx.Err() == nil {
			st, err := cl.Status(ctx)
			w.mu.Lock()
			if err != nil {
				w.errs++
			}
			for _, a := range st.Apps {
				if a.Name == app {
					w.min = min(w.min, a.Healthy)
					w.samples++
				}
			}
			w.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	})
	w.stop = func() { cancel(); wg.Wait() }
	n.t.Cleanup(w.stop)
	return w
}

func (w *healthWatch) result() (minHealthy, samples int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.min, w.samples
}

const wikiStack = `
cluster: { name: e2e, data_dir: "{{dir}}/tandem", zone: a }
edge:
  listen: "{{edge}}"
  timeouts: { shutdown: 10s, upstream: 10s }
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
log: { level: info }
apps:
  wiki:
    command: ["{{wiki}}", "serve"]
    release: ["{{wiki}}", "migrate"]
    instances: 3
    env: { WIKI_DATA: "{{dir}}/wiki" }
    # Lenient checks: the machine running the tests may be busy, and a
    # check that times out under load is not what this test is about.
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1, fall: 3, startup: 15s }
    stop: { grace: 10s }
    deploy: { drain: 10s }
`

// login returns a request that POSTs the wiki's login form: a write to
// its database, answered 303 and then the page it redirects to.
func login(base string) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		form := url.Values{"username": {"load"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := send(c, req)
		return "", err
	}
}

// TestTenDeploysUnderLoad: ten consecutive deploys of the example wiki,
// each with its release phase (wiki migrate), under a steady load of GETs
// and POSTs: no request fails, and at no moment do fewer than the three
// configured instances serve. Under -short, three deploys.
func TestTenDeploysUnderLoad(t *testing.T) {
	t.Parallel()
	deploys := 10
	if testing.Short() {
		deploys = 3
	}
	last := fmt.Sprintf("v%d", deploys+1) // v1 is the stack file's
	n := startNode(t, wikiStack)
	n.waitFor("3 healthy wiki instances", 30*time.Second, healthy("wiki", 3))
	base := "http://" + n.edge
	l := startLoad(t, map[string]request{
		"get-index": get(base + "/"), "get-page": get(base + "/wiki/Missing_Page_Is_A_404"), "get-login": get(base + "/login"),
		"post-login": login(base),
	}, 20*time.Millisecond)
	// A missing page is a 404 from the app: count only transport and 5xx
	// failures for it.
	w := watchHealthy(n, "wiki")
	var took []time.Duration
	for i := 1; i <= deploys; i++ {
		start := time.Now()
		out, code := n.cli("deploy", "wiki", "--env", fmt.Sprintf("DEPLOY_NUMBER=%d", i))
		took = append(took, time.Since(start))
		if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "schema up to date") {
			l.stop()
			w.stop()
			t.Fatalf("deploy %d: exit %d; want 0 with the release phase's output and success:\n%s", i, code, out)
		}
	}
	l.waitOK(100, 30*time.Second, "get-index", "get-login", "post-login")
	l.stop()
	w.stop()

	minHealthy, samples := w.result()
	t.Logf("%d deploys: %v; fewest healthy instances in %d samples: %d", deploys, took, samples, minHealthy)
	if minHealthy < 3 || samples < 100 {
		t.Errorf("fewest healthy instances seen = %d in %d samples; want >= 3 at every moment", minHealthy, samples)
	}
	total := 0
	for _, kind := range []string{"get-index", "get-page", "get-login", "post-login"} {
		ok, failed := l.counts(kind)
		if kind == "get-page" {
			failed = only5xxOrTransport(failed)
		}
		total += ok
		if len(failed) > 0 {
			t.Errorf("%s: %d failed requests (of %d), e.g. %q", kind, len(failed), ok+len(failed), failed[0])
		}
		if kind != "get-page" && ok < 100 {
			t.Errorf("%s: only %d requests succeeded; the load did not run", kind, ok)
		}
	}
	t.Logf("requests during the deploys: %d", total)
	st, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	app := st.Apps[0]
	if app.Release != last || app.Healthy != 3 || len(app.Instances) != 3 {
		t.Errorf("after %d deploys: release %s, %d/%d healthy, %d instances; want %s with 3 healthy", deploys, app.Release, app.Healthy, app.Desired, len(app.Instances), last)
	}
	for _, in := range app.Instances {
		if in.Release != last {
			t.Errorf("instance %s runs %s; want %s", in.Name, in.Release, last)
		}
	}
	out, code := n.cli("history", "wiki")
	if code != 0 || strings.Count(out, "succeeded") != deploys+1 {
		t.Errorf("tandem history wiki: exit %d, want %d succeeded deploys (v1 from the stack file, then %d):\n%s", code, deploys+1, deploys, out)
	}
}

// only5xxOrTransport keeps the failures that are not the app's 404.
func only5xxOrTransport(failed []string) []string {
	var out []string
	for _, f := range failed {
		if !strings.Contains(f, "status 404") {
			out = append(out, f)
		}
	}
	return out
}

const deployTestapp = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  timeouts: { shutdown: 10s, upstream: 10s }
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    release: ["{{testapp}}", "release"]
    instances: 3
    env: { TESTAPP_VERSION: one }
    health: { path: /healthz, interval: 300ms, timeout: 300ms, rise: 1, fall: 3, startup: 2s, restart_after: 5s }
    restart: { min_backoff: 50ms, max_backoff: 1s }
    stop: { grace: 5s }
    deploy: { drain: 10s }
`

// TestDeployNeverHealthyRollsBack: a release whose instances never pass
// their health check is rolled back automatically, no request fails while
// it is tried, and the status says why.
func TestDeployNeverHealthyRollsBack(t *testing.T) {
	t.Parallel()
	n := startNode(t, deployTestapp)
	n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	base := "http://" + n.edge
	l := startLoad(t, map[string]request{"get1": get(base + "/"), "get2": get(base + "/"), "post": post(base + "/echo")}, 10*time.Millisecond)
	w := watchHealthy(n, "web")
	out, code := n.cli("deploy", "web", "--env", "TESTAPP_UNHEALTHY=1", "--env", "TESTAPP_VERSION=two")
	l.stop()
	w.stop()
	if code != 1 {
		t.Errorf("tandem deploy of a never-healthy release: exit %d; want 1", code)
	}
	for _, want := range []string{"ROLLBACK", "did not become healthy within 2s", "status 503", "rolled back"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	for _, kind := range []string{"get1", "get2", "post"} {
		ok, failed := l.counts(kind)
		if len(failed) > 0 {
			t.Errorf("%s: %d failed requests (of %d) during the attempt, e.g. %q", kind, len(failed), ok+len(failed), failed[0])
		}
	}
	if minHealthy, samples := w.result(); minHealthy < 3 {
		t.Errorf("fewest healthy instances = %d in %d samples; want >= 3", minHealthy, samples)
	}
	st, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	app := st.Apps[0]
	if d := app.Deploy; d == nil || d.Result != "rolled back" || !strings.Contains(d.Reason, "did not become healthy") || d.To != "v2" {
		t.Errorf("status deploy = %+v; want the deploy to v2 rolled back with its reason", d)
	}
	if app.Release != "v1" || len(app.Instances) != 3 {
		t.Errorf("status: release %s, %d instances; want v1 with 3", app.Release, len(app.Instances))
	}
	for _, in := range app.Instances {
		if in.Release != "v1" {
			t.Errorf("instance %s runs %s after the rollback; want v1", in.Name, in.Release)
		}
	}
	text, _ := n.cli("status")
	if !strings.Contains(text, "rolled back") || !strings.Contains(text, "did not become healthy within 2s") {
		t.Errorf("tandem status does not say why the deploy rolled back:\n%s", text)
	}
	resp, err := http.Get(base + "/")
	if err == nil {
		resp.Body.Close()
		if v := resp.Header.Get("X-Version"); v != "one" {
			t.Errorf("after the rollback the app answers as version %q; want one", v)
		}
	}
}

// TestDeployReleasePhaseFails: a failing release phase replaces nothing;
// the CLI shows its output and exits non-zero.
func TestDeployReleasePhaseFails(t *testing.T) {
	t.Parallel()
	n := startNode(t, deployTestapp)
	before := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	out, code := n.cli("deploy", "web", "--env", "TESTAPP_RELEASE_EXIT=4")
	if code == 0 {
		t.Errorf("tandem deploy with a failing release phase: exit 0; want non-zero")
	}
	for _, want := range []string{"| migrating to v2", "| migration failed: table pages is locked", "release phase failed", "exit status 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "started web-") {
		t.Errorf("an instance was started after the release phase failed:\n%s", out)
	}
	after, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range after.Apps[0].Instances {
		old := before.Apps[0].Instances[i]
		if in.Name != old.Name || in.PID != old.PID || in.Release != "v1" {
			t.Errorf("instance %d: %s pid %d (%s); want %s pid %d untouched", i, in.Name, in.PID, in.Release, old.Name, old.PID)
		}
	}
	if d := after.Apps[0].Deploy; d == nil || d.Result != "failed" || !strings.Contains(d.Reason, "release phase failed") {
		t.Errorf("status deploy = %+v; want failed in the release phase", d)
	}
}

// slowBody is a request body that trickles out over d: an upload from a
// slow client.
type slowBody struct {
	chunks, left int
	every        time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.every)
	b.left--
	n := copy(p, strings.Repeat("u", min(len(p), 1024)))
	return n, nil
}

// TestDeployDrainsLongUpload: an upload that takes 5s and is in flight on
// an old instance when the deploy begins completes during its drain. The
// route streams request bodies, so that the upload is on the instance
// while it arrives (by default the edge reads it in full first).
func TestDeployDrainsLongUpload(t *testing.T) {
	slow(t)
	t.Parallel()
	// The new release has all the time it needs to start: on a loaded
	// machine a 2s window rolled the deploy back before the drain.
	stack := strings.Replace(deployTestapp, "startup: 2s", "startup: 60s", 1)
	n := startNode(t, strings.Replace(stack, "  cache: { memory: 0 }\n",
		"  cache: { memory: 0 }\n  routes: [{ path: /, app: web, request_body: stream }]\n", 1))
	n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+n.edge+"/echo", &slowBody{left: 10, every: 500 * time.Millisecond})
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(body), err}
	}()
	n.waitFor("the upload in flight", 5*time.Second, func(st admin.Status) bool {
		for _, in := range st.Apps[0].Instances {
			if in.InFlight > 0 {
				return true
			}
		}
		return false
	})
	start := time.Now()
	out, code := n.cli("deploy", "web", "--env", "TESTAPP_VERSION=two")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	r := <-done
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "10240 bytes on web-") {
		t.Fatalf("upload during the deploy: status %d, body %q, err %v; want 200 with all 10240 bytes", r.status, r.body, r.err)
	}
	uploadedOn := strings.TrimSpace(r.body[strings.Index(r.body, "web-"):])
	if uploadedOn != "web-1" && uploadedOn != "web-2" && uploadedOn != "web-3" {
		t.Errorf("upload served by %s; want an old instance", uploadedOn)
	}
	if took < 3*time.Second || !strings.Contains(out, "stopped "+uploadedOn+" after") {
		t.Errorf("deploy took %s; want it to wait for the upload on %s to finish:\n%s", took, uploadedOn, out)
	}
	t.Logf("upload of 5s on %s completed; deploy took %s", uploadedOn, took.Round(time.Millisecond))
}

// TestDeployInterruptedByRestart: tandem killed in the middle of a deploy
// starts again with the old release on every instance, and the history
// says the deploy was interrupted: nothing half-done is left running.
func TestDeployInterruptedByRestart(t *testing.T) {
	t.Parallel()
	sf := writeStack(t, strings.Replace(deployTestapp, "startup: 2s", "startup: 60s", 1))
	n := startProcess(t, sf)
	n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	deployDone := make(chan int, 1)
	go func() {
		_, code := n.cli("deploy", "web", "--env", "TESTAPP_STARTUP=30s", "--env", "TESTAPP_VERSION=two")
		deployDone <- code
	}()
	n.waitFor("a deploy waiting for its first new instance", 10*time.Second, func(st admin.Status) bool {
		d := st.Apps[0].Deploy
		return d != nil && d.Result == "" && d.Phase == "roll" && len(st.Apps[0].Instances) == 4
	})
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	if code := <-deployDone; code == 0 {
		t.Error("tandem deploy exited 0 although its node was killed")
	}

	n2 := startStack(t, sf)
	st := n2.waitFor("3 healthy instances after the restart", 20*time.Second, healthy("web", 3))
	app := st.Apps[0]
	if app.Release != "v1" || len(app.Instances) != 3 {
		t.Errorf("after the restart: release %s with %d instances; want v1 with 3", app.Release, len(app.Instances))
	}
	for _, in := range app.Instances {
		if in.Release != "v1" {
			t.Errorf("instance %s runs %s; want v1", in.Name, in.Release)
		}
	}
	if d := app.Deploy; d == nil || d.Result != "interrupted" || d.To != "v2" {
		t.Errorf("last deploy = %+v; want the deploy to v2 recorded as interrupted", d)
	}
	out, _ := n2.cli("history", "web")
	if !strings.Contains(out, "interrupted") {
		t.Errorf("tandem history does not show the interrupted deploy:\n%s", out)
	}
	// A new deploy works after that.
	if out, code := n2.cli("deploy", "web", "--env", "TESTAPP_VERSION=three"); code != 0 || !strings.Contains(out, "v3 runs") {
		t.Errorf("deploy after the restart: exit %d\n%s", code, out)
	}
}
