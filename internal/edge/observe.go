package edge

import (
	"net/http"
	"time"
)

// Observer is told of every request the edge answers, once, when the
// answer is complete: metrics and the status page's charts hook in here.
// Its methods run on the request's goroutine, so they must be quick and
// must not block.
type Observer interface {
	// RequestStarted is called when a request has been routed to app,
	// before the app's handler runs; ObserveRequest follows for it with
	// the same App.
	RequestStarted(app string)
	// ObserveRequest is called once per request, answered.
	ObserveRequest(RequestInfo)
}

// RequestInfo is what the edge knows of one answered request.
type RequestInfo struct {
	// App is the app the matched route sends to; "" when no route
	// matched, and for purges.
	App string
	// Route names the matched route by its host pattern and path prefix
	// ("/", "example.com/api"); "" when none matched. It never holds the
	// requested path, so it is safe as a metric label.
	Route string
	// Method is the request method as sent.
	Method string
	// Path is the requested path without the query, for exclusions such
	// as an app's health check path.
	Path string
	// Status is the status answered (499 when the client left first).
	Status int
	// Bytes counts the response body bytes written.
	Bytes int64
	// Duration runs from the request's arrival to the end of the answer.
	Duration time.Duration
	// Upstream is the wait for the app's response headers; 0 when the app
	// was not asked or did not answer.
	Upstream time.Duration
	// Cache is what the cache did (an httpcache Outcome: hit, miss, stale,
	// revalidated, pass); "" when the route is not cached.
	Cache string
	// Error is the kind of error the edge answered by itself (no_route,
	// no_instance, upstream_timeout, upstream_error, body_too_large,
	// client_closed, purge_*); "" when it did not.
	Error string
}

// finish reports a request that has been answered to the access log and
// the observer.
func (s *Server) finish(r *http.Request, x *exchange, rec *recorder) {
	if s.opts.AccessLog == nil && s.opts.Observer == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	upstream, waited, errKind := x.outcome()
	info := RequestInfo{
		App:      x.app,
		Route:    x.route,
		Method:   r.Method,
		Path:     r.URL.Path,
		Status:   status,
		Bytes:    rec.bytes,
		Duration: time.Since(x.start),
		Upstream: waited,
		Error:    errKind,
	}
	if x.cached {
		info.Cache = s.opts.Cache.Outcome(rec.Header())
	}
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveRequest(info)
	}
	if s.opts.AccessLog != nil {
		s.logAccess(r, x, &info, upstream)
	}
}
