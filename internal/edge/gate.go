package edge

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// GateMode is what an app's Gate does with requests.
type GateMode string

// The modes of a Gate.
const (
	// GateOpen passes requests on.
	GateOpen GateMode = "open"
	// GatePaused holds requests until the gate opens again, each for at
	// most the hold given to Pause; then it answers 503.
	GatePaused GateMode = "paused"
	// GateMaintenance answers every request with a 503 maintenance page.
	GateMaintenance GateMode = "maintenance"
)

// Gate stands in front of an app's balancer and lets the node pause the
// app (hold requests while something is done, such as a schema change)
// or put it in maintenance (a 503 page with a message). It is an
// http.RoundTripper: give it as the app's upstream in Options.Upstreams,
// wrapping the balancer. The zero value is not usable; see NewGate.
type Gate struct {
	next http.RoundTripper
	// open mirrors mode == GateOpen, so that the request path reads it
	// without taking mu: every request of the app passes here.
	open atomic.Bool

	mu      sync.Mutex // guards the fields below
	mode    GateMode
	message string
	since   time.Time
	hold    time.Duration
	opened  chan struct{} // closed when a pause ends
	held    int           // requests waiting while paused
}

// GateState is a snapshot of a Gate.
type GateState struct {
	Mode    GateMode
	Message string        // the maintenance message
	Since   time.Time     // when the mode was entered; zero when open
	Hold    time.Duration // how long each request is held while paused
	Held    int           // requests held now
}

var _ http.RoundTripper = (*Gate)(nil)

// NewGate returns an open gate in front of next.
func NewGate(next http.RoundTripper) *Gate {
	g := &Gate{next: next, mode: GateOpen, opened: make(chan struct{})}
	g.open.Store(true)
	return g
}

// TargetAt names the target at addr of the balancer behind the gate, ""
// if it has none there or cannot say.
func (g *Gate) TargetAt(addr string) string {
	if n, ok := g.next.(TargetNamer); ok {
		return n.TargetAt(addr)
	}
	return ""
}

// Pause holds new requests, each for at most hold, until Open or
// Maintenance is called. Requests already passed on are not affected.
func (g *Gate) Pause(hold time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode != GatePaused {
		g.since = time.Now()
	}
	g.mode, g.hold, g.message = GatePaused, hold, ""
	g.open.Store(false)
}

// Maintenance answers every request with a 503 page showing message;
// requests held by a pause get it too.
func (g *Gate) Maintenance(message string, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.message, g.since = GateMaintenance, message, since
	g.open.Store(false)
	g.releaseLocked()
}

// Open passes requests on again; held requests go on at once.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.message, g.since, g.hold = GateOpen, "", time.Time{}, 0
	g.open.Store(true)
	g.releaseLocked()
}

func (g *Gate) releaseLocked() {
	close(g.opened)
	g.opened = make(chan struct{})
}

// State returns a snapshot of the gate.
func (g *Gate) State() GateState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GateState{Mode: g.mode, Message: g.message, Since: g.since, Hold: g.hold, Held: g.held}
}

// RoundTrip passes req on, holds it, or answers it, by the gate's mode.
func (g *Gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.open.Load() {
		return g.next.RoundTrip(req)
	}
	for {
		g.mu.Lock()
		mode, message, hold, opened := g.mode, g.message, g.hold, g.opened
		if mode == GatePaused {
			g.held++
		}
		g.mu.Unlock()
		switch mode {
		case GateOpen:
			return g.next.RoundTrip(req)
		case GateMaintenance:
			return gateResponse(req, "Down for maintenance", message), nil
		}
		// Paused: wait for the gate to change, the hold to pass or the
		// client to leave.
		timer := time.NewTimer(hold)
		var resp *http.Response
		var err error
		select {
		case <-opened:
		case <-timer.C:
			resp = gateResponse(req, "Paused", "The site is paused for a moment. Please try again shortly.")
		case <-req.Context().Done():
			err = req.Context().Err()
		}
		timer.Stop()
		g.mu.Lock()
		g.held--
		g.mu.Unlock()
		if resp != nil || err != nil {
			return resp, err
		}
	}
}

// gateResponse is the 503 a closed gate answers with: HTML for browsers,
// plain text otherwise, never stored by caches.
func gateResponse(req *http.Request, title, message string) *http.Response {
	h := make(http.Header)
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "30")
	h.Set("X-Content-Type-Options", "nosniff")
	var body string
	if strings.Contains(req.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = fmt.Sprintf(gateHTML, html.EscapeString(title), html.EscapeString(title), html.EscapeString(message))
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = title + "\n" + message + "\n"
	}
	return &http.Response{
		Status:        "503 Service Unavailable",
		StatusCode:    http.StatusServiceUnavailable,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

const gateHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}</style></head>
<body><h1>%s</h1><p>%s</p></body></html>
`

// gateFront puts the maintenance page of the app whose upstream is rt in
// front of handler (the route's cache, if any), so that cached pages are
// not served during maintenance either. handler is returned unchanged
// when rt is not a Gate.
func gateFront(rt http.RoundTripper, handler http.Handler) http.Handler {
	g, ok := rt.(*Gate)
	if !ok {
		return handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.open.Load() {
			handler.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		mode, message := g.mode, g.message
		g.mu.Unlock()
		if mode != GateMaintenance {
			handler.ServeHTTP(w, r)
			return
		}
		resp := gateResponse(r, "Down for maintenance", message)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}
