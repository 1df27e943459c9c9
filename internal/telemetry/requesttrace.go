package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/netip"
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

// requestScope names the request spans' instrumentation scope: the edge,
// whose requests they describe.
const requestScope = "github.com/tandem-run/tandem/internal/edge"

// RequestTracer makes the spans of the requests the edge serves,
// following OpenTelemetry's HTTP semantic conventions: a server span per
// request (its parent the W3C traceparent the request came with), a
// "cache lookup" child where the route is cached, and an "upstream
// attempt" child per try at an instance, whose context is sent to the
// app in traceparent. It is the edge's Tracer.
//
// A nil *RequestTracer traces nothing; the edge is given none when
// tracing is off, so that requests pay nothing for it.
type RequestTracer struct {
	t    trace.Tracer
	prop propagation.TraceContext
}

// NewRequestTracer returns the tracer of the edge's requests for tp; nil
// when tp is nil or a no-op provider.
func NewRequestTracer(tp trace.TracerProvider) *RequestTracer {
	if tp == nil {
		return nil
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		return nil
	}
	return &RequestTracer{t: tp.Tracer(requestScope)}
}

// RequestSpan is the server span of one request, from StartRequest to
// End, with its cache lookup child. A nil *RequestSpan does nothing. The
// cache may hand the request on from a goroutine of its own, so Forwarded
// may run beside the other methods.
type RequestSpan struct {
	t        *RequestTracer
	server   trace.Span
	method   string // http.request.method as recorded: "_OTHER" for unknown methods
	parentIn bool   // the request came with a valid traceparent

	mu     sync.Mutex // guards the fields below
	lookup trace.Span // the open cache lookup span; nil when none is open
	// forwarded is when the open lookup handed the request on, in unix
	// nanoseconds (a time.Time would take the struct to the next size
	// class); 0 if it did not.
	forwarded int64
}

// StartRequest starts the server span of r, whose parent is the
// traceparent r came with, and returns the context that carries it.
// client is the client's address after the trusted proxies' fields, peer
// the connection's; either may be invalid.
func (t *RequestTracer) StartRequest(r *http.Request, client, peer netip.Addr) (context.Context, *RequestSpan) {
	if t == nil {
		return r.Context(), nil
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	s := &RequestSpan{t: t, method: spanMethod(r.Method)}
	s.parentIn = trace.SpanContextFromContext(ctx).IsValid()
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(s.method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(requestScheme(r)),
		semconv.ClientAddress(client.String()),
		semconv.NetworkProtocolVersion(protocolVersion(r)),
	)
	if s.method == methodOther {
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
	if peer.IsValid() {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer.String()))
	}
	ctx, s.server = t.t.Start(ctx, spanName(s.method, ""),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, s
}

// SetRoute names the span after the route the request matched (its path
// prefix, never the requested path).
func (s *RequestSpan) SetRoute(route string) {
	if s == nil {
		return
	}
	s.server.SetName(spanName(s.method, route))
	s.server.SetAttributes(semconv.HTTPRoute(route))
}

// StartLookup starts the "cache lookup" span, a child of the server span
// that ctx (the request's) carries. It ends at EndLookup, dated when the
// cache handed the request on (Forwarded) if it did: the upstream
// attempts are children of the server span, not of the lookup.
func (s *RequestSpan) StartLookup(ctx context.Context) {
	if s == nil {
		return
	}
	_, span := s.t.t.Start(ctx, "cache lookup")
	s.mu.Lock()
	s.lookup, s.forwarded = span, 0
	s.mu.Unlock()
}

// Forwarded notes that the open cache lookup handed the request to the
// app now; later calls, and calls without an open lookup (a background
// revalidation), change nothing.
func (s *RequestSpan) Forwarded() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.lookup != nil && s.forwarded == 0 {
		s.forwarded = time.Now().UnixNano()
	}
	s.mu.Unlock()
}

// EndLookup ends the cache lookup span with the Cache-Status member the
// cache added ("" if none).
func (s *RequestSpan) EndLookup(cacheStatus string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	span, forwarded := s.lookup, s.forwarded
	s.lookup = nil
	s.mu.Unlock()
	if span == nil {
		return
	}
	span.SetAttributes(
		attribute.String("tandem.cache.status", cacheStatus),
		attribute.Bool("tandem.cache.hit", cacheStatusHit(cacheStatus)),
		attribute.Bool("tandem.cache.forwarded", forwarded != 0),
	)
	if forwarded == 0 {
		span.End()
	} else {
		span.End(trace.WithTimestamp(time.Unix(0, forwarded)))
	}
}

// End records the response status (0 means 200) and ends the span. A 5xx
// sets the span's status to Error, with error.type errKind (the edge's
// kind of error), or the status code when the app answered it.
func (s *RequestSpan) End(status int, errKind string) {
	if s == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	s.server.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		if errKind == "" {
			errKind = strconv.Itoa(status)
		}
		s.server.SetAttributes(semconv.ErrorTypeKey.String(errKind))
		s.server.SetStatus(codes.Error, "")
	}
	s.server.End()
}

// TraceID returns the trace id for the access log: when the request was
// sampled or came with a traceparent; "" otherwise (and for a nil span:
// see TraceparentID).
func (s *RequestSpan) TraceID() string {
	if s == nil {
		return ""
	}
	sc := s.server.SpanContext()
	if sc.IsValid() && (sc.IsSampled() || s.parentIn) {
		return sc.TraceID().String()
	}
	return ""
}

// TraceparentID returns the trace id of the valid W3C traceparent in h,
// or "". With tracing off the app sees the client's traceparent, so the
// access log names its trace all the same.
func TraceparentID(h http.Header) string {
	if len(h["Traceparent"]) == 0 {
		return ""
	}
	// The context only carries the parsed span context back.
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// StartAttempt starts the "upstream attempt" span of one try at an
// instance, a child of the span in out's context (the server span), and
// sends its context to the app: out.Header is replaced by a copy with
// traceparent and tracestate, so the app's own spans join the trace. It
// returns the function that ends the span with the attempt's outcome;
// errorKind names a transport error as the edge's error kinds do.
func (t *RequestTracer) StartAttempt(out *http.Request, a balance.Attempt, errorKind func(context.Context, error) string) func(*http.Response, error) {
	if t == nil {
		return nil
	}
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
			span.SetAttributes(semconv.ErrorTypeKey.String(errorKind(reqCtx, err)))
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
