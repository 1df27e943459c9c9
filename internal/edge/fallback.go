package edge

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Fallback stands below a route's cache and, while it is on, answers what
// the route would send to its app with a 503 fallback page: the sites
// turn it on for the routes that are not served during an emergency.
// The cache above it still answers what it holds — a fresh copy, or a
// stale one its grace or stale-if-error allows (a 503 from below is an
// origin error to it) — so only what it would fetch gets the page. The
// zero value is not usable; see NewFallback.
type Fallback struct {
	on atomic.Bool // read on every request of the route

	mu      sync.Mutex // guards the fields below
	title   string
	message string
}

// Default texts of the fallback page.
const (
	DefaultFallbackTitle   = "Temporarily unavailable"
	DefaultFallbackMessage = "This part of the site is unavailable for now; its main pages still work. Please try again later."
)

// NewFallback returns a fallback that is off.
func NewFallback() *Fallback {
	return &Fallback{title: DefaultFallbackTitle, message: DefaultFallbackMessage}
}

// On answers the route's requests with the page, showing message (""
// for DefaultFallbackMessage).
func (f *Fallback) On(message string) {
	if message == "" {
		message = DefaultFallbackMessage
	}
	f.mu.Lock()
	f.message = message
	f.mu.Unlock()
	f.on.Store(true)
}

// Off lets the route's requests through again.
func (f *Fallback) Off() { f.on.Store(false) }

// Active reports whether the fallback answers the route's requests.
func (f *Fallback) Active() bool { return f.on.Load() }

// wrap puts the fallback in front of next, the route's proxy.
func (f *Fallback) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.on.Load() {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		title, message := f.title, f.message
		f.mu.Unlock()
		resp := gateResponse(r, title, message)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		if r.Method != http.MethodHead {
			io.Copy(w, resp.Body)
		}
	})
}
