package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
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

// outcomes counts what the clients of an edge got: statuses and errors.
type outcomes struct {
	mu       sync.Mutex // guards the fields below
	statuses map[int]int
	errs     map[string]int
	examples []string // of failures, a few
}

func (o *outcomes) add(code int, err error, what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.errs[errKind(err)]++
	} else {
		o.statuses[code]++
	}
	if (err != nil || code != http.StatusOK) && len(o.examples) < 3 {
		o.examples = append(o.examples, fmt.Sprintf("%s: %d %v", what, code, err))
	}
}

func (o *outcomes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for code, n := range o.statuses {
		parts = append(parts, fmt.Sprintf("%d×%d", n, code))
	}
	for kind, n := range o.errs {
		parts = append(parts, fmt.Sprintf("%d×%s", n, kind))
	}
	sort.Strings(parts)
	if len(o.examples) == 0 {
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts, ", ") + "; e.g. " + strings.Join(o.examples, "; ")
}

func (o *outcomes) status(code int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.statuses[code]
}

// failed counts the requests that did not get a 200.
func (o *outcomes) failed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for code, c := range o.statuses {
		if code != http.StatusOK {
			n += c
		}
	}
	for _, c := range o.errs {
		n += c
	}
	return n
}

func errKind(err error) string {
	switch {
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case strings.Contains(err.Error(), "EOF"):
		return "eof"
	case strings.Contains(err.Error(), "Timeout"), strings.Contains(err.Error(), "deadline"):
		return "timeout"
	}
	return "other"
}

// edgeLoad sends requests from workers until stopped: GETs of / and, if
// posts, POSTs of a small body to /echo, each worker on its own
// kept-alive connection, one request after the other.
type edgeLoad struct {
	got    *outcomes
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startEdgeLoad(base string, gets, posts int, pause time.Duration) *edgeLoad {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	l := &edgeLoad{got: &outcomes{statuses: map[int]int{}, errs: map[string]int{}}, cancel: cancel}
	worker := func(method string) {
		c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer c.CloseIdleConnections()
		for i := 0; ctx.Err() == nil; i++ {
			var body io.Reader
			url := base + "/"
			if method == http.MethodPost {
				url, body = base+"/echo", strings.NewReader(strings.Repeat("x", 512))
			}
			req, _ := http.NewRequestWithContext(ctx, method, url, body)
			resp, err := c.Do(req)
			code := 0
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			if ctx.Err() != nil {
				return
			}
			l.got.add(code, err, method)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
	for range gets {
		l.wg.Go(func() { worker(http.MethodGet) })
	}
	for range posts {
		l.wg.Go(func() { worker(http.MethodPost) })
	}
	return l
}

func (l *edgeLoad) stop() *outcomes {
	l.cancel()
	l.wg.Wait()
	return l.got
}

// TestRestartHoldsRequests: after tandem is killed and started again, the
// edge holds the requests that arrive before any instance is healthy
// (up to health.startup) rather than answering 503: every request the
// restarted node accepts gets its page.
func TestRestartHoldsRequests(t *testing.T) {
	sf := writeStack(t, slowStart)
	n := startStack(t, sf)
	n.waitFor("2 healthy instances", 20*time.Second, healthy("web", 2))

	l := startEdgeLoad("http://"+sf.edge, 6, 0, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	down := time.Now()
	n = startStack(t, sf)
	n.waitFor("2 healthy instances after the restart", 20*time.Second, healthy("web", 2))
	t.Logf("healthy again %s after the kill", time.Since(down).Round(10*time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	got := l.stop()
	t.Logf("outcomes: %s", got)
	if got.status(http.StatusOK) == 0 {
		t.Fatal("no request succeeded")
	}
	if n := got.status(http.StatusServiceUnavailable); n > 0 {
		t.Errorf("%d requests got 503 from the restarted node; want them held until an instance is healthy", n)
	}
}
