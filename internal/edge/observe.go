package edge

import (
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// Observer is told of every request the edge answers, once, when the
// answer is complete: the node's is a *telemetry.RequestObserver, which
// feeds the metrics and the status page's charts. Its methods run on the
// request's goroutine, so they must be quick and must not block.
type Observer interface {
	// RequestStarted is called when a request has been routed to app,
	// before the app's handler runs; ObserveRequest follows for it with
	// the same App.
	RequestStarted(app string)
	// ObserveRequest is called once per request, answered.
	ObserveRequest(telemetry.Request)
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
	info := telemetry.Request{
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
