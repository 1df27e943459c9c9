package balance

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a loopback HTTP server standing in for one app instance. It
// answers /healthz with 200 while healthy, and every other path with its
// name, unless handler is set.
type backend struct {
	name    string
	srv     *httptest.Server
	hits    atomic.Int64 // requests other than health checks
	healthy atomic.Bool
	handler http.HandlerFunc // for paths other than /healthz; nil answers the name
}

func newBackend(t *testing.T, name string, handler http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name, handler: handler}
	b.healthy.Store(true)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !b.healthy.Load() {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
			return
		}
		b.hits.Add(1)
		if b.handler != nil {
			b.handler(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b.name)))
		io.WriteString(w, b.name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// kill makes the instance die: no more connections, open ones closed.
func (b *backend) kill() {
	b.srv.Listener.Close()
	b.srv.CloseClientConnections()
}

func (b *backend) target(zone string) Target {
	return Target{ID: b.name, Addr: b.srv.Listener.Addr().String(), Zone: zone}
}

// testPool is a running pool plus a signal of its state changes.
type testPool struct {
	*Pool
	changed chan struct{} // capacity 1; signalled on every OnHealthChange
	events  chan TargetStatus
}

// fastHealth is an active health check that decides within tens of ms.
var fastHealth = HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 2}

// noChecks disables active health checks (an empty Path) and keeps
// startPool from filling in fastHealth.
var noChecks = HealthCheck{Interval: time.Hour}

// startPool creates and runs a pool with opts (App defaults to "web",
// Health to fastHealth), adds the backends, and waits until they are healthy.
func startPool(t *testing.T, opts Options, backends ...*backend) *testPool {
	t.Helper()
	if opts.App == "" {
		opts.App = "web"
	}
	if opts.Health == (HealthCheck{}) {
		opts.Health = fastHealth
	}
	tp := &testPool{changed: make(chan struct{}, 1), events: make(chan TargetStatus, 1000)}
	opts.OnHealthChange = func(s TargetStatus) {
		select {
		case tp.events <- s:
		default:
		}
		select {
		case tp.changed <- struct{}{}:
		default:
		}
	}
	p, err := NewPool(opts)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	tp.Pool = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v; want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return 5s after its context ended")
		}
	})
	for _, b := range backends {
		if err := p.Add(b.target("")); err != nil {
			t.Fatalf("Add(%s): %v", b.name, err)
		}
	}
	for _, b := range backends {
		tp.waitState(t, b.name, StateHealthy)
	}
	return tp
}

// waitState waits until target id is in state want.
func (tp *testPool) waitState(t *testing.T, id string, want State) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		st, err := tp.Target(id)
		if err != nil {
			t.Fatalf("Target(%q): %v", id, err)
		}
		if st.State == want {
			return
		}
		select {
		case <-tp.changed:
		case <-deadline:
			t.Fatalf("target %s is %v after 10s; want %v (last error %q)", id, st.State, want, st.LastError)
		}
	}
}

// get sends a GET through the pool and returns the body.
func get(ctx context.Context, rt http.RoundTripper, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http:///"+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), errors.New("status " + resp.Status)
	}
	return string(body), nil
}

// proxy returns a loopback front server: httputil.ReverseProxy with the
// pool as its Transport, as the edge uses it.
func proxy(t *testing.T, rt http.RoundTripper) *httptest.Server {
	t.Helper()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.Header.Del("Expect") // as the edge does: its own server sends the 100
		},
		Transport: rt,
	}
	front := httptest.NewServer(rp)
	t.Cleanup(front.Close)
	return front
}

// loadGET sends total GETs of url with header from workers goroutines, and
// calls atKill once, as soon as killAt of them were answered. It reports
// every failed GET (an error, or a status other than 200) and returns how
// many failed.
func loadGET(t *testing.T, url string, header http.Header, workers, total, killAt int, atKill func()) int64 {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	var sent, failed atomic.Int64
	var kill sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= int64(total) {
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					t.Errorf("new request: %v", err)
					return
				}
				req.Header = header.Clone()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					t.Errorf("GET: %v", err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					t.Errorf("GET = %s %q; want 200", resp.Status, body)
				}
				if sent.Load() >= int64(killAt) {
					kill.Do(atKill)
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}
