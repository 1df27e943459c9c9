package edge

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tandem-run/tandem/internal/balance"
)

// tracerScope names the edge's spans' instrumentation scope.
const tracerScope = "github.com/tandem-run/tandem/internal/edge"

// tracer makes the edge's spans, following OpenTelemetry's HTTP semantic
// conventions: a server span per request (its parent the W3C traceparent
// the request came with), a "cache lookup" child where the route is
// cached, and an "upstream attempt" child per try at an instance, whose
// context is sent to the app in traceparent.
//
// A nil *tracer is tracing turned off: its methods do nothing and allocate
// nothing, so requests pay nothing for tracing they do not use.
type tracer struct {
	t    trace.Tracer
	prop propagation.TraceContext
}

// newTracer returns the tracer for tp; nil when tp is nil or a no-op
// provider.
func newTracer(tp trace.TracerProvider) *tracer {
	if tp == nil {
		return nil
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		return nil
	}
	return &tracer{t: tp.Tracer(tracerScope)}
}

// requestTrace is what tracing keeps about one request, in its exchange.
type requestTrace struct {
	server   trace.Span
	method   string // http.request.method as recorded: "_OTHER" for unknown methods
	parentIn bool   // the request came with a valid traceparent

	// The cache may call the upstream on a goroutine of its own, hence:
	mu        sync.Mutex // guards the fields below
	lookup    bool       // a cache lookup span is open
	forwarded time.Time  // when the open lookup handed the request on; zero if it did not
}

// startServer starts the request's server span and returns the context
// that carries it; x.trace holds it until endServer.
func (t *tracer) startServer(ctx context.Context, r *http.Request, x *exchange) context.Context {
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	rt := &requestTrace{method: spanMethod(r.Method)}
	rt.parentIn = trace.SpanContextFromContext(ctx).IsValid()
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(rt.method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(requestScheme(r)),
		semconv.ClientAddress(x.clientIP.String()),
		semconv.NetworkProtocolVersion(protocolVersion(r)),
	)
	if rt.method == methodOther {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if peer := parseHostIP(r.RemoteAddr); peer.IsValid() {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer.String()))
	}
	ctx, rt.server = t.t.Start(ctx, spanName(rt.method, ""),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	x.trace = rt
	return ctx
}

// setRoute names the server span after the route the request matched.
func (t *tracer) setRoute(x *exchange, path string) {
	if t == nil || x.trace == nil {
		return
	}
	x.trace.server.SetName(spanName(x.trace.method, path))
	x.trace.server.SetAttributes(semconv.HTTPRoute(path))
}

// endServer records the response status and ends the server span.
func (t *tracer) endServer(x *exchange, rec *recorder) {
	if t == nil || x.trace == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	span := x.trace.server
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		_, _, kind := x.outcome()
		if kind == "" {
			kind = strconv.Itoa(status)
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(kind))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// traceID returns the trace id for the access log line: when the request
// was sampled or came with a traceparent (even with tracing off, as the
// app then sees that traceparent); "" otherwise.
func (t *tracer) traceID(r *http.Request, x *exchange) string {
	if t == nil || x.trace == nil {
		if len(r.Header["Traceparent"]) == 0 {
			return ""
		}
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			return sc.TraceID().String()
		}
		return ""
	}
	sc := x.trace.server.SpanContext()
	if sc.IsValid() && (sc.IsSampled() || x.trace.parentIn) {
		return sc.TraceID().String()
	}
	return ""
}

// cacheLookup wraps a route's cache handler in a "cache lookup" span,
// which carries the cache's Cache-Status member. The span ends when the
// cache hands the request to the upstream (see markForward) or, when it
// answers from storage, when it has answered. The upstream attempts are
// children of the server span, not of the lookup.
func (t *tracer) cacheLookup(cache http.Handler) http.Handler {
	if t == nil {
		return cache
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := exchangeFrom(r.Context())
		if x == nil || x.trace == nil {
			cache.ServeHTTP(w, r)
			return
		}
		rt := x.trace
		_, span := t.t.Start(r.Context(), "cache lookup")
		rt.mu.Lock()
		rt.lookup, rt.forwarded = true, time.Time{}
		rt.mu.Unlock()

		cache.ServeHTTP(w, r)

		rt.mu.Lock()
		forwarded := rt.forwarded
		rt.lookup = false
		rt.mu.Unlock()
		status := ownCacheStatus(w.Header()["Cache-Status"])
		span.SetAttributes(
			attribute.String("tandem.cache.status", status),
			attribute.Bool("tandem.cache.hit", cacheStatusHit(status)),
			attribute.Bool("tandem.cache.forwarded", !forwarded.IsZero()),
		)
		if forwarded.IsZero() {
			span.End()
		} else {
			span.End(trace.WithTimestamp(forwarded))
		}
	})
}

// markForward wraps the upstream handler a route's cache calls, to note
// when the cache lookup handed the request on.
func (t *tracer) markForward(upstream http.Handler) http.Handler {
	if t == nil {
		return upstream
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x := exchangeFrom(r.Context()); x != nil && x.trace != nil {
			rt := x.trace
			rt.mu.Lock()
			if rt.lookup && rt.forwarded.IsZero() {
				rt.forwarded = time.Now()
			}
			rt.mu.Unlock()
		}
		upstream.ServeHTTP(w, r)
	})
}

// TraceAttempts returns the balance.Options.OnAttempt hook that gives each
// try at an instance an "upstream attempt" span, a child of the span in
// the request's context (the edge's server span), and sends the span's
// context to the app in traceparent and tracestate so the app's own spans
// join the trace. It returns nil, which costs nothing, when tp is nil or a
// no-op provider.
func TraceAttempts(tp trace.TracerProvider) func(*http.Request, balance.Attempt) func(*http.Response, error) {
	t := newTracer(tp)
	if t == nil {
		return nil
	}
	return t.attempt
}

// attempt starts an upstream attempt span and injects its context into
// the headers of out.
func (t *tracer) attempt(out *http.Request, a balance.Attempt) func(*http.Response, error) {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(spanMethod(out.Method)),
		attribute.String("tandem.upstream.instance", a.Target),
		attribute.String("tandem.upstream.address", a.Addr),
		attribute.Int("tandem.upstream.attempt", a.N),
	)
	if host, port := splitHostPort(a.Addr); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host), semconv.NetworkPeerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if a.N > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.N-1))
	}
	ctx, span := t.t.Start(out.Context(), "upstream attempt",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	h := out.Header.Clone()
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	out.Header = h
	reqCtx := out.Context()
	return func(resp *http.Response, err error) {
		switch {
		case err != nil:
			_, kind := errorStatus(reqCtx, err)
			span.SetAttributes(semconv.ErrorTypeKey.String(kind))
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		default:
			span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
			if resp.StatusCode >= 500 {
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
				span.SetStatus(codes.Error, "")
			}
		}
		span.End()
	}
}

// spanMethod returns the method as the semantic conventions record it: a
// known method, or "_OTHER", so that clients cannot make up span names.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "PURGE", "BAN":
		return m
	}
	return methodOther
}

// methodOther is http.request.method for methods not known to the edge.
const methodOther = "_OTHER"

// spanName is "{method} {route}", "HTTP" standing for an unknown method;
// the method alone before the request is routed.
func spanName(method, route string) string {
	if method == methodOther {
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// protocolVersion is network.protocol.version: "1.1", "1.0", "2".
func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	case r.ProtoMajor == 1:
		return "1.1"
	default:
		return strconv.Itoa(r.ProtoMajor)
	}
}

// splitHostPort splits a Host header or address; port is 0 when absent.
func splitHostPort(hostport string) (string, int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// ownCacheStatus returns the Cache-Status member this edge's cache added:
// the last field line (the cache appends its member as a line of its own).
func ownCacheStatus(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[len(values)-1]
}

// cacheStatusHit reports whether a Cache-Status member has the hit parameter.
func cacheStatusHit(member string) bool {
	_, params, _ := strings.Cut(member, ";")
	for p := range strings.SplitSeq(params, ";") {
		if strings.TrimSpace(p) == "hit" {
			return true
		}
	}
	return false
}
