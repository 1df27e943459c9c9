package edge

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingRT answers 200 and counts requests.
type countingRT struct{ n atomic.Int32 }

func (c *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

func gateRequest(t *testing.T, accept string) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://app/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	return req
}

func TestGateMaintenance(t *testing.T) {
	next := new(countingRT)
	g := NewGate(next)
	g.Maintenance("Back at <5pm>", time.Now())
	resp, err := g.RoundTrip(gateRequest(t, "text/html"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "Back at &lt;5pm&gt;") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("maintenance: status %d, body %q, headers %v; want a 503 page with the escaped message", resp.StatusCode, body, resp.Header)
	}
	if next.n.Load() != 0 {
		t.Errorf("maintenance passed %d requests on", next.n.Load())
	}
	g.Open()
	resp, err = g.RoundTrip(gateRequest(t, "*/*"))
	if err != nil || resp.StatusCode != 200 || next.n.Load() != 1 {
		t.Errorf("after Open: %v, %v; want passed on", resp, err)
	}
	if st := g.State(); st.Mode != GateOpen || !st.Since.IsZero() {
		t.Errorf("State() after Open = %+v", st)
	}
}

func TestGatePauseHoldsUntilOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := new(countingRT)
		g := NewGate(next)
		g.Pause(10 * time.Second)
		got := roundTripAsync(t, g)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if st := g.State(); st.Held != 1 || next.n.Load() != 0 {
			t.Fatalf("while paused: state %+v, %d passed on; want 1 held, none passed", st, next.n.Load())
		}
		g.Open()
		if code := <-got; code != 200 || next.n.Load() != 1 {
			t.Errorf("held request after Open: status %d, %d passed on; want 200 from the app", code, next.n.Load())
		}
	})
}

func TestGatePauseTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(new(countingRT))
		g.Pause(2 * time.Second)
		start := time.Now()
		resp, err := g.RoundTrip(gateRequest(t, "*/*"))
		if err != nil || resp.StatusCode != 503 || time.Since(start) != 2*time.Second {
			t.Fatalf("held past its hold: %v, %v after %s; want a 503 after 2s", resp, err, time.Since(start))
		}
		// A held request whose client leaves ends with the client's error.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req := gateRequest(t, "*/*").WithContext(ctx)
		if _, err := g.RoundTrip(req); err == nil {
			t.Error("held request of a client that left: nil error")
		}
		// Maintenance during a pause answers the held requests.
		got := make(chan int, 1)
		go func() {
			resp, _ := g.RoundTrip(gateRequest(t, "*/*"))
			got <- resp.StatusCode
		}()
		synctest.Wait()
		g.Maintenance("upgrading", time.Now())
		if code := <-got; code != 503 {
			t.Errorf("held request when maintenance began: %d; want 503", code)
		}
		if st := g.State(); st.Held != 0 {
			t.Errorf("held = %d after all returned", st.Held)
		}
	})
}

func TestGateFrontServesMaintenanceBeforeTheCache(t *testing.T) {
	next := new(countingRT)
	g := NewGate(next)
	cached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "cached page") })
	h := gateFront(g, cached)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Body.String() != "cached page" {
		t.Fatalf("open gate: %q; want the cached page", rec.Body.String())
	}
	g.Maintenance("back soon", time.Now())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "back soon") {
		t.Errorf("maintenance: %d %q; want the 503 page even for a cached page", rec.Code, rec.Body.String())
	}
	if got := gateFront(next, cached); got == nil {
		t.Error("gateFront of a plain RoundTripper = nil")
	}
}

// roundTripAsync sends a request through g and returns where its status
// arrives (-1 for an error).
func roundTripAsync(t *testing.T, g *Gate) <-chan int {
	got := make(chan int, 1)
	go func() {
		resp, err := g.RoundTrip(gateRequest(t, "*/*"))
		if err != nil {
			got <- -1
			return
		}
		got <- resp.StatusCode
	}()
	return got
}

func TestGateHoldsUntilReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := new(countingRT)
		g := NewGate(next)
		g.HoldUntilReady(10 * time.Second)
		start := time.Now()
		got := roundTripAsync(t, g)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if st := g.State(); st.Held != 1 || next.n.Load() != 0 || !st.StartupEnds.Equal(start.Add(10*time.Second)) {
			t.Fatalf("while starting: state %+v, %d passed on; want 1 held until %s, none passed", st, next.n.Load(), start.Add(10*time.Second))
		}
		g.Ready()
		if code := <-got; code != 200 || time.Since(start) != 3*time.Second {
			t.Errorf("held request after Ready: status %d after %s; want 200 from the app at once", code, time.Since(start))
		}
		if st := g.State(); st.Mode != GateOpen || !st.StartupEnds.IsZero() || st.Held != 0 || !g.open.Load() {
			t.Errorf("State() after Ready = %+v, open %v; want open, no hold", st, g.open.Load())
		}
		g.Ready() // again: nothing to do
		if code := <-roundTripAsync(t, g); code != 200 || next.n.Load() != 2 {
			t.Errorf("after Ready: status %d, %d passed on; want passed on", code, next.n.Load())
		}
	})
}

// TestGateStartupHoldRunsOut: with no healthy instance by the end of the
// hold, held and new requests pass on, and the balancer answers them.
func TestGateStartupHoldRunsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := new(countingRT)
		g := NewGate(next)
		g.HoldUntilReady(2 * time.Second)
		start := time.Now()
		got := roundTripAsync(t, g)
		time.Sleep(time.Second)
		late := roundTripAsync(t, g) // held for the second left
		if code := <-got; code != 200 || time.Since(start) != 2*time.Second {
			t.Errorf("held request: status %d after %s; want passed on after 2s", code, time.Since(start))
		}
		if code := <-late; code != 200 || next.n.Load() != 2 {
			t.Errorf("request held later: status %d, %d passed on; want passed on with the first", code, next.n.Load())
		}
		if !g.open.Load() || !g.State().StartupEnds.IsZero() {
			t.Errorf("after the hold ran out: state %+v; want open", g.State())
		}
	})
}

// TestGateStartupHoldWithPauseAndMaintenance: a pause holds as usual while
// the node starts and, once resumed, requests are still held until an
// instance is healthy; maintenance answers at once.
func TestGateStartupHoldWithPauseAndMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := new(countingRT)
		g := NewGate(next)
		g.HoldUntilReady(time.Minute)
		g.Pause(time.Minute)
		got := roundTripAsync(t, g)
		synctest.Wait()
		g.Ready() // an instance is healthy, but the app is paused
		time.Sleep(time.Second)
		synctest.Wait()
		if next.n.Load() != 0 {
			t.Fatal("a paused app passed a request on once ready")
		}
		g.HoldUntilReady(time.Minute) // a later start, still paused
		g.Open()
		synctest.Wait()
		if st := g.State(); st.Held != 1 || next.n.Load() != 0 {
			t.Fatalf("resumed while starting: state %+v, %d passed on; want still held", st, next.n.Load())
		}
		g.Maintenance("back soon", time.Now())
		if code := <-got; code != 503 {
			t.Errorf("held request when maintenance began: %d; want 503", code)
		}
		if code := <-roundTripAsync(t, g); code != 503 || next.n.Load() != 0 {
			t.Errorf("maintenance while starting: %d; want 503 at once", code)
		}
	})
}
