package uptime

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// target is a site the tests control, reached through a RoundTripper
// without a network, so that it works inside a synctest bubble.
type target struct {
	status atomic.Int32 // answered to every request
	hits   atomic.Int32
}

func newTarget(status int) *target {
	tg := new(target)
	tg.status.Store(int32(status))
	return tg
}

func (tg *target) RoundTrip(r *http.Request) (*http.Response, error) {
	tg.hits.Add(1)
	rec := httptest.NewRecorder()
	rec.WriteHeader(int(tg.status.Load()))
	rec.WriteString("Welcome")
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// down makes the target answer 503; up 200.
func (tg *target) down() { tg.status.Store(http.StatusServiceUnavailable) }
func (tg *target) up()   { tg.status.Store(http.StatusOK) }

// recorder is a Notifier that keeps what it is given.
type recorder struct {
	mu      sync.Mutex // guards notices
	notices []Notice
}

func (r *recorder) Notify(_ context.Context, n Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
	return nil
}

func (r *recorder) list() []Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notice(nil), r.notices...)
}

// testCheck is a check of http://site.test/ every second, rise 2, fall 2.
func testCheck() Check {
	return Check{Name: "home", URL: "http://site.test/", Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2}
}

// start runs m until the test ends; the returned func stops it and
// fails the test if Run does not return.
func start(t *testing.T, m *Monitor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v; want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// states summarises notices as "down", "still down", "up".
func states(ns []Notice) []string {
	var out []string
	for _, n := range ns {
		switch {
		case n.Repeat():
			out = append(out, "still down")
		default:
			out = append(out, n.State.String())
		}
	}
	return out
}
