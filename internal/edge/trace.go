package edge

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// Tracer makes the spans of the requests the edge serves; the node's is
// a *telemetry.RequestTracer, which holds the span-making and the
// OpenTelemetry conventions it follows. The edge decides where spans
// begin and end: a server span per request, named after its route once
// routed; a cache lookup span where the route is cached, ending when the
// cache hands the request on; and an attempt span per try at an instance
// (see TraceAttempts).
//
// A nil Tracer is tracing turned off: the edge then installs nothing and
// allocates nothing for it.
type Tracer interface {
	// StartRequest starts r's server span, a child of the traceparent r
	// came with, and returns the context that carries it. client is the
	// client's address after the trusted proxies' fields, peer the
	// connection's.
	StartRequest(r *http.Request, client, peer netip.Addr) (context.Context, *telemetry.RequestSpan)
	// StartAttempt starts the span of one try at an instance, a child of
	// the span in out's context, and puts the span's context in a copy
	// of out.Header for the app. The function it returns ends the span
	// with the attempt's outcome, naming an error with errorKind.
	StartAttempt(out *http.Request, a balance.Attempt, errorKind func(context.Context, error) string) func(*http.Response, error)
}

// TraceAttempts returns the balance.Options.OnAttempt hook that gives
// each try at an instance a span of t's, a child of the request's server
// span, whose context the app receives in traceparent. It returns nil,
// which costs the balancer nothing, when t is nil.
func TraceAttempts(t Tracer) func(*http.Request, balance.Attempt) func(*http.Response, error) {
	if t == nil {
		return nil
	}
	return func(out *http.Request, a balance.Attempt) func(*http.Response, error) {
		return t.StartAttempt(out, a, attemptErrorKind)
	}
}

// attemptErrorKind names a failed attempt's error as errorStatus does.
func attemptErrorKind(ctx context.Context, err error) string {
	_, kind := errorStatus(ctx, err)
	return kind
}

// traceLookup wraps a route's cache handler in a cache lookup span,
// which carries the cache's Cache-Status member.
func (s *Server) traceLookup(cache http.Handler) http.Handler {
	if s.tracer == nil {
		return cache
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := exchangeFrom(r.Context())
		if x == nil || x.span == nil {
			cache.ServeHTTP(w, r)
			return
		}
		x.span.StartLookup(r.Context())
		cache.ServeHTTP(w, r)
		x.span.EndLookup(ownCacheStatus(w.Header()["Cache-Status"]))
	})
}

// markForward wraps the upstream handler a route's cache calls, to note
// when the cache lookup handed the request on.
func (s *Server) markForward(upstream http.Handler) http.Handler {
	if s.tracer == nil {
		return upstream
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x := exchangeFrom(r.Context()); x != nil {
			x.span.Forwarded()
		}
		upstream.ServeHTTP(w, r)
	})
}

// endSpan ends the request's server span with the status answered and,
// on a 5xx, the kind of error the edge answered by itself, if it did.
func endSpan(x *exchange, rec *recorder) {
	if x.span == nil {
		return
	}
	var kind string
	if rec.status >= 500 {
		_, _, kind = x.outcome()
	}
	x.span.End(rec.status, kind)
}

// traceID returns the trace id for the access log line: the span's, when
// the request was sampled or came with a traceparent; with tracing off,
// the traceparent's, as the app then sees that traceparent.
func traceID(r *http.Request, x *exchange) string {
	if x.span == nil {
		return telemetry.TraceparentID(r.Header)
	}
	return x.span.TraceID()
}

// ownCacheStatus returns the Cache-Status member this edge's cache added:
// the last field line (the cache appends its member as a line of its own).
func ownCacheStatus(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[len(values)-1]
}
