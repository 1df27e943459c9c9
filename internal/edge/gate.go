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
// or put it in maintenance (a 503 page with a message). While the node
// starts, it also holds the app's requests until an instance is healthy
// (see HoldUntilReady). It is an http.RoundTripper: give it as the app's
// upstream in Options.Upstreams, wrapping the balancer. The zero value is
// not usable; see NewGate.
type Gate struct {
	next http.RoundTripper
	// open mirrors mode == GateOpen with no startup hold, so that the
	// request path reads it without taking mu: every request of the app
	// passes here.
	open atomic.Bool
	// starting mirrors !startupEnds.IsZero(), so that Ready, called on
	// every health report, costs nothing once the app is up.
	starting atomic.Bool

	mu      sync.Mutex // guards the fields below
	mode    GateMode
	message string
	since   time.Time
	hold    time.Duration
	opened  chan struct{} // closed when a pause or the startup hold ends
	held    int           // requests waiting while paused or starting
	// startupEnds is when the startup hold ends at the latest; zero when
	// there is none.
	startupEnds time.Time
}

// GateState is a snapshot of a Gate.
type GateState struct {
	Mode    GateMode
	Message string        // the maintenance message
	Since   time.Time     // when the mode was entered; zero when open
	Hold    time.Duration // how long each request is held while paused
	Held    int           // requests held now
	// StartupEnds is, while requests are held for the app's first
	// healthy instance, when that hold ends at the latest; zero otherwise.
	StartupEnds time.Time
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
	g.syncOpenLocked()
}

// Maintenance answers every request with a 503 page showing message;
// requests held by a pause or the startup hold get it too.
func (g *Gate) Maintenance(message string, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.message, g.since = GateMaintenance, message, since
	g.syncOpenLocked()
	g.releaseLocked()
}

// Open passes requests on again; held requests go on at once (unless the
// startup hold still holds them).
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.message, g.since, g.hold = GateOpen, "", time.Time{}, 0
	g.syncOpenLocked()
	g.releaseLocked()
}

// HoldUntilReady holds the requests that would pass on until Ready is
// called, for at most d from now: the node is starting, and no instance
// of the app has passed its health check yet. A request held until one
// has gets its answer, where one passed on at once would get the
// balancer's 503. Once d has passed, requests pass on (and get that 503
// if still no instance is healthy). Pause and maintenance work as usual
// meanwhile.
func (g *Gate) HoldUntilReady(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.startupEnds = time.Now().Add(d)
	g.starting.Store(true)
	g.syncOpenLocked()
}

// Ready ends the hold of HoldUntilReady: an instance of the app, here or
// on another node, is healthy. Held requests go on at once. It is cheap
// when there is no hold, and may be called any number of times.
func (g *Gate) Ready() {
	if !g.starting.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endStartupLocked()
}

func (g *Gate) endStartupLocked() {
	if g.startupEnds.IsZero() {
		return
	}
	g.startupEnds = time.Time{}
	g.starting.Store(false)
	g.syncOpenLocked()
	g.releaseLocked()
}

// syncOpenLocked makes open say whether requests pass on without a look
// at mu.
func (g *Gate) syncOpenLocked() {
	g.open.Store(g.mode == GateOpen && g.startupEnds.IsZero())
}

func (g *Gate) releaseLocked() {
	close(g.opened)
	g.opened = make(chan struct{})
}

// State returns a snapshot of the gate.
func (g *Gate) State() GateState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GateState{Mode: g.mode, Message: g.message, Since: g.since, Hold: g.hold, Held: g.held, StartupEnds: g.startupEnds}
}

// RoundTrip passes req on, holds it, or answers it, by the gate's mode.
func (g *Gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.open.Load() {
		return g.next.RoundTrip(req)
	}
	for {
		g.mu.Lock()
		if !g.startupEnds.IsZero() && !time.Now().Before(g.startupEnds) {
			g.endStartupLocked() // still no healthy instance: the balancer answers
		}
		mode, message, hold, opened := g.mode, g.message, g.hold, g.opened
		if mode == GateOpen {
			hold = time.Until(g.startupEnds)
		}
		if mode == GatePaused || mode == GateOpen && !g.startupEnds.IsZero() {
			g.held++
		}
		g.mu.Unlock()
		switch {
		case mode == GateMaintenance:
			return gateResponse(req, "Down for maintenance", message), nil
		case mode == GateOpen && hold <= 0: // no startup hold
			return g.next.RoundTrip(req)
		}
		// Paused, or starting: wait for the gate to change, the hold to
		// pass or the client to leave.
		if done, resp, err := g.wait(req, mode, hold, opened); done {
			return resp, err
		}
	}
}

// wait holds req for at most hold, or until opened is closed; it reports
// whether req is done, and then its answer.
func (g *Gate) wait(req *http.Request, mode GateMode, hold time.Duration, opened <-chan struct{}) (bool, *http.Response, error) {
	timer := time.NewTimer(hold)
	var resp *http.Response
	var err error
	select {
	case <-opened:
	case <-timer.C:
		// A startup hold that ran out is looked at again by the caller,
		// which ends it and passes the request on.
		if mode == GatePaused {
			resp = gateResponse(req, "Paused", "The site is paused for a moment. Please try again shortly.")
		}
	case <-req.Context().Done():
		err = req.Context().Err()
	}
	timer.Stop()
	g.mu.Lock()
	g.held--
	g.mu.Unlock()
	return resp != nil || err != nil, resp, err
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
