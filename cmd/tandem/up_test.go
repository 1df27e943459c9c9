package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

const threeInstances = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  timeouts: { shutdown: 10s, upstream: 5s }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 3
    health: { path: /healthz, interval: 500ms, timeout: 400ms, rise: 1, fall: 2, restart_after: 2s }
    restart: { min_backoff: 50ms, max_backoff: 1s }
    stop: { grace: 5s }
`

// TestKillInstanceUnderLoad: SIGKILL of one instance under load fails no
// GET (they are retried elsewhere); a POST in flight on it gets a clean
// 502, never a hang; the instance is back and healthy within seconds.
func TestKillInstanceUnderLoad(t *testing.T) {
	t.Parallel()
	n := startNode(t, threeInstances)
	st := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	base := "http://" + n.edge

	l := startLoad(t, map[string]request{
		"get1": get(base + "/"), "get2": get(base + "/"), "get3": get(base + "/"), "get4": get(base + "/"),
		"post": post(base + "/echo"),
	}, 5*time.Millisecond)

	// Some load first; the slow POSTs start after it, so that they are
	// still in flight (4 s) when the poll below looks, however long the
	// load took to get going on a loaded machine.
	l.waitServed(t, 20, 10*time.Second, "get1", "get2", "get3", "get4", "post")
	// Slow POSTs in flight when web-2 dies: the balancer spreads them by
	// in-flight count, so some are on the victim.
	victim := instanceOf(st, "web", "web-2")
	const slow = 6
	slowPost := make(chan int, slow)
	for i := 0; i < slow; i++ {
		go func() {
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Post(base+"/echo?d=4s", "text/plain", strings.NewReader("in flight"))
			if err != nil {
				slowPost <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			slowPost <- resp.StatusCode
		}()
	}
	// A GET is in flight for a millisecond, a slow POST for 4 s: web-2
	// busy in three polls in a row (over 200 ms) holds a slow POST.
	busy := 0
	n.waitFor("a slow POST in flight on web-2", 10*time.Second, func(s admin.Status) bool {
		total := int64(0)
		for _, in := range s.Apps[0].Instances {
			total += in.InFlight
		}
		if total >= slow && instanceOf(s, "web", "web-2").InFlight > 0 {
			busy++
		} else {
			busy = 0
		}
		return busy >= 3
	})
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	n.waitFor("web-2 restarted and healthy", 15*time.Second, func(s admin.Status) bool {
		in := instanceOf(s, "web", "web-2")
		return in.PID != victim.PID && in.PID != 0 && in.Health == "healthy" && in.Restarts >= 1
	})
	t.Logf("web-2 back and healthy %s after SIGKILL", time.Since(killed).Round(10*time.Millisecond))
	l.waitServed(t, 50, 10*time.Second, "get1", "get2", "get3", "get4") // traffic on the healed pool
	l.stop()

	for _, kind := range []string{"get1", "get2", "get3", "get4"} {
		ok, failed := l.counts(kind)
		if len(failed) > 0 {
			t.Errorf("%s: %d failed GETs (of %d), e.g. %q", kind, len(failed), ok+len(failed), failed[0])
		}
		if ok < 50 {
			t.Errorf("%s: only %d GETs succeeded; the load did not run", kind, ok)
		}
	}
	ok, failed := l.counts("post")
	for _, f := range failed {
		if !strings.Contains(f, "status 502") {
			t.Errorf("POST failed other than with a clean 502: %s", f)
		}
	}
	t.Logf("POSTs: %d ok, %d answered 502", ok, len(failed))
	cut := 0
	timeout := time.After(15 * time.Second)
	for i := 0; i < slow; i++ {
		select {
		case code := <-slowPost:
			switch code {
			case http.StatusOK:
			case http.StatusBadGateway:
				cut++
			default:
				t.Errorf("slow POST in flight during the kill: status %d; want 200, or a clean 502 on the killed instance", code)
			}
		case <-timeout:
			t.Fatal("a slow POST in flight during the kill hung")
		}
	}
	t.Logf("slow POSTs in flight during the kill: %d cut off with 502, %d completed", cut, slow-cut)
	if cut == 0 {
		t.Error("no slow POST was on the killed instance; the test did not exercise the case")
	}
}

// TestHungInstanceEjectedAndRestarted: an instance that accepts but never
// answers is ejected by the health checks, gets no new requests, and is
// restarted after health.restart_after.
func TestHungInstanceEjectedAndRestarted(t *testing.T) {
	slow(t)
	t.Parallel()
	n := startNode(t, threeInstances)
	st := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	victim := instanceOf(st, "web", "web-1")
	resp, err := http.Post("http://"+victim.Addr+"/control/hang", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	n.waitFor("web-1 unhealthy", 10*time.Second, func(s admin.Status) bool {
		return instanceOf(s, "web", "web-1").Health == "unhealthy"
	})
	// While it is out of the pool, no request may reach it (they would
	// hang): every one is answered by another instance, or by the web-1
	// that replaces it once restart_after has passed.
	c := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < 60; i++ {
		resp, err := c.Get("http://" + n.edge + "/")
		if err != nil {
			t.Fatalf("request %d through the edge: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got, pid := resp.Header.Get("X-Instance"), resp.Header.Get("X-Pid"); resp.StatusCode != 200 || pid == strconv.Itoa(victim.PID) {
			t.Fatalf("request %d: status %d from %q (pid %s); want 200 from a healthy instance, not the hung pid %d", i, resp.StatusCode, got, pid, victim.PID)
		}
	}
	n.waitFor("web-1 restarted and healthy", 20*time.Second, func(s admin.Status) bool {
		in := instanceOf(s, "web", "web-1")
		return in.PID != victim.PID && in.Health == "healthy"
	})
}

// TestSlowInstanceEjected: an instance slower than the health timeout is
// taken out of the pool.
func TestSlowInstanceEjected(t *testing.T) {
	t.Parallel()
	n := startNode(t, threeInstances)
	st := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	victim := instanceOf(st, "web", "web-3")
	resp, err := http.Post("http://"+victim.Addr+"/control/slow?d=1s", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	n.waitFor("web-3 unhealthy", 10*time.Second, func(s admin.Status) bool {
		return instanceOf(s, "web", "web-3").Health == "unhealthy"
	})
	// The web-3 that replaces it once restart_after has passed may serve.
	c := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < 30; i++ {
		resp, err := c.Get("http://" + n.edge + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if pid := resp.Header.Get("X-Pid"); pid == strconv.Itoa(victim.PID) {
			t.Fatalf("request %d went to the slow, unhealthy instance (pid %s)", i, pid)
		}
	}
}

// TestGracefulStop: SIGTERM under load lets in-flight requests complete,
// refuses new connections, leaves no child process and exits 0.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	n := startProcess(t, writeStack(t, threeInstances))
	st := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	var pids []int
	for _, in := range st.Apps[0].Instances {
		pids = append(pids, in.PID)
	}

	const inFlight = 5
	results := make(chan error, inFlight)
	for i := 0; i < inFlight; i++ {
		// Distinct URLs: the edge cache would otherwise collapse the
		// identical misses into one request to the app.
		url := "http://" + n.edge + "/slow?d=3s&i=" + strconv.Itoa(i)
		go func() {
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(url)
			if err != nil {
				results <- err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != 200 || !strings.Contains(string(body), "slept")) {
				err = &statusError{resp.StatusCode, string(body)}
			}
			results <- err
		}()
	}
	n.waitFor("the slow requests in flight", 10*time.Second, func(s admin.Status) bool {
		total := int64(0)
		for _, in := range s.Apps[0].Instances {
			total += in.InFlight
		}
		return total == inFlight
	})
	n.signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", n.edge, time.Second); err == nil {
		c.Close()
		t.Error("edge accepted a new connection after SIGTERM")
	}
	for i := 0; i < inFlight; i++ {
		if err := <-results; err != nil {
			t.Errorf("in-flight request during shutdown: %v", err)
		}
	}
	if code := n.wait(30 * time.Second); code != 0 {
		t.Errorf("tandem exit code %d after SIGTERM; want 0", code)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("instance pid %d still alive after tandem exited", pid)
		}
	}
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return "status " + http.StatusText(e.code) + ": " + e.body }

// TestNoOrphansWhenKilled: SIGKILL of tandem itself takes its instances
// with it.
func TestNoOrphansWhenKilled(t *testing.T) {
	t.Parallel()
	n := startProcess(t, writeStack(t, threeInstances))
	st := n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for _, in := range st.Apps[0].Instances {
		for alive(in.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(in.PID) {
			t.Errorf("instance %s (pid %d) outlived a SIGKILLed tandem", in.Name, in.PID)
		}
	}
}

// alive reports whether pid names a live, non-zombie process.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestCrashLoopVisible: an app that exits at once is restarted with
// back-off, shows as a crash loop in status, and the edge answers a clear
// 503 meanwhile; tandem itself keeps running.
func TestCrashLoopVisible(t *testing.T) {
	t.Parallel()
	n := startNode(t, `
cluster: { data_dir: "{{dir}}" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["/bin/sh", "-c", "echo boom; exit 7"]
    instances: 1
    restart: { min_backoff: 10ms, max_backoff: 100ms }
`)
	st := n.waitFor("a crash loop", 15*time.Second, func(s admin.Status) bool {
		return instanceOf(s, "web", "web-1").CrashLoop
	})
	in := instanceOf(st, "web", "web-1")
	if in.LastExit != "exit status 7" {
		t.Errorf("last exit = %q; want exit status 7", in.LastExit)
	}
	resp, err := http.Get("http://" + n.edge + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "No instance") {
		t.Errorf("GET during crash loop = %d %q; want 503 saying no instance is available", resp.StatusCode, body)
	}
	if out, code := n.cli("status"); code != 0 || !strings.Contains(out, "crash loop") {
		t.Errorf("tandem status does not show the crash loop: exit %d\n%s", code, out)
	}
}
