package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowStart is one app whose instances take a while to pass their health
// check after they start: a monolith loading its code.
const slowStart = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  timeouts: { shutdown: 10s, upstream: 5s }
  cache: { memory: 0 } # every request reaches the app: no stale copy hides a 503
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    env: { TESTAPP_STARTUP: 2s }
    instances: 2
    health: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 2, fall: 2, startup: 20s }
    restart: { min_backoff: 50ms, max_backoff: 1s }
    stop: { grace: 5s }
`

// answers counts the answers a load got, by status, and keeps the
// longest wait for a 200.
type answers struct {
	mu       sync.Mutex // guards the fields below
	byStatus map[int]int
	longest  time.Duration
}

func (a *answers) add(code int, took time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byStatus == nil {
		a.byStatus = map[int]int{}
	}
	a.byStatus[code]++
	if code == http.StatusOK {
		a.longest = max(a.longest, took)
	}
}

func (a *answers) status(code int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byStatus[code]
}

func (a *answers) longestOK() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.longest
}

func (a *answers) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("%v, the longest 200 in %s", a.byStatus, a.longest.Round(time.Millisecond))
}

// getCounted returns a request that GETs url, wants a 200 and counts
// every answer.
func getCounted(url string, got *answers) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		got.add(resp.StatusCode, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return "", nil
	}
}

// TestRestartHoldsRequests: after tandem is killed and started again, the
// edge holds the requests that arrive before any instance is healthy
// (up to health.startup) rather than answering 503: every request the
// restarted node accepts gets its page. The node is a process, to be
// SIGKILLed; it starts again in the test process.
func TestRestartHoldsRequests(t *testing.T) {
	t.Parallel()
	sf := writeStack(t, slowStart)
	n := startProcess(t, sf)
	n.waitFor("2 healthy instances", 20*time.Second, healthy("web", 2))

	var got answers
	reqs := map[string]request{}
	var kinds []string
	for i := range 6 {
		kind := fmt.Sprintf("get-%d", i)
		reqs[kind], kinds = getCounted("http://"+sf.edge+"/", &got), append(kinds, kind)
	}
	l := startLoad(t, reqs, 5*time.Millisecond)
	l.waitServed(t, 10, 30*time.Second, kinds...)
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	down := time.Now()
	n = startStack(t, sf)
	n.waitFor("2 healthy instances after the restart", 30*time.Second, healthy("web", 2))
	t.Logf("healthy again %s after the kill", time.Since(down).Round(10*time.Millisecond))
	l.waitServed(t, 10, 30*time.Second, kinds...)
	l.stop()
	refused := 0
	for _, k := range kinds {
		_, failed := l.counts(k)
		refused += len(failed)
	}
	t.Logf("answers by status: %s; %d requests got no 200 (refused while no node ran, or a 503)", &got, refused)
	if n := got.status(http.StatusServiceUnavailable); n > 0 {
		t.Errorf("%d requests got 503 from the restarted node; want them held until an instance is healthy", n)
	}
	// The instances take 2s to start: a request the restarted edge
	// accepted before then waited for one.
	if held := got.longestOK(); held < time.Second {
		t.Errorf("the longest request answered 200 took %s; want one held for the instances' start (2s)", held)
	}
}
