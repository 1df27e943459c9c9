package telemetry_test

import (
	"context"
	"net/http"
	"net/netip"
	neturl "net/url"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// spanSink hands every ended span to the test.
type spanSink chan sdktrace.ReadOnlySpan

func (s spanSink) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (s spanSink) OnEnd(sp sdktrace.ReadOnlySpan)                  { s <- sp }
func (s spanSink) Shutdown(context.Context) error                  { return nil }
func (s spanSink) ForceFlush(context.Context) error                { return nil }

// next waits for n spans to end and returns them by name.
func (s spanSink) next(t *testing.T, n int) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	got := map[string]sdktrace.ReadOnlySpan{}
	for range n {
		select {
		case sp := <-s:
			got[sp.Name()] = sp
		case <-time.After(5 * time.Second):
			t.Fatalf("waited 5s for span %d of %d; have %v", len(got)+1, n, got)
		}
	}
	return got
}

// sinkTracer returns a tracer that samples every trace and hands its
// spans to a sink of the given capacity.
func sinkTracer(t testing.TB, capacity int) (*telemetry.RequestTracer, spanSink) {
	sink := make(spanSink, capacity)
	tr := telemetry.NewRequestTracer(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sink)))
	if tr == nil {
		t.Fatal("NewRequestTracer(SDK provider) = nil; want a tracer")
	}
	return tr, sink
}

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

// testRequest is a request as the edge's handlers get it.
func testRequest(method, host, path, traceparent string) *http.Request {
	r := &http.Request{Method: method, Host: host, URL: &neturl.URL{Path: path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, RemoteAddr: "192.0.2.1:1234"}
	if traceparent != "" {
		r.Header.Set("Traceparent", traceparent)
	}
	return r.WithContext(context.Background())
}

var testClient, testPeer = netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1")

// TestNoRequestTracerWhenOff: a nil or no-op provider gives no tracer,
// so that the edge installs nothing; a nil tracer and a nil span do
// nothing when called all the same.
func TestNoRequestTracerWhenOff(t *testing.T) {
	if tr := telemetry.NewRequestTracer(nil); tr != nil {
		t.Errorf("NewRequestTracer(nil) = %v; want nil", tr)
	}
	if tr := telemetry.NewRequestTracer(noop.NewTracerProvider()); tr != nil {
		t.Errorf("NewRequestTracer(noop) = %v; want nil", tr)
	}
	var tr *telemetry.RequestTracer
	r := testRequest("GET", "example.com", "/", "")
	ctx, span := tr.StartRequest(r, testClient, testPeer)
	if ctx != r.Context() || span != nil {
		t.Errorf("nil tracer: StartRequest = %v, %v; want the request's context and no span", ctx, span)
	}
	span.SetRoute("/")
	span.StartLookup(ctx)
	span.Forwarded()
	span.EndLookup("tandem; hit")
	span.End(200, "")
	if id := span.TraceID(); id != "" {
		t.Errorf("nil span: TraceID() = %q; want none", id)
	}
}

func TestSpanNames(t *testing.T) {
	tr, sink := sinkTracer(t, 1)
	tests := []struct{ method, route, want string }{
		{"GET", "", "GET"},
		{"GET", "/api", "GET /api"},
		{"PURGE", "/", "PURGE /"},
		{"BAN", "/", "BAN /"},
		{"FROB", "/", "HTTP /"},
		{"get", "", "HTTP"},
	}
	for _, tt := range tests {
		_, span := tr.StartRequest(testRequest(tt.method, "example.com", "/x", ""), testClient, testPeer)
		if tt.route != "" {
			span.SetRoute(tt.route)
		}
		span.End(200, "")
		if got := (<-sink).Name(); got != tt.want {
			t.Errorf("span of %s routed to %q named %q; want %q", tt.method, tt.route, got, tt.want)
		}
	}
}

// TestTraceparentID: the access log's trace id with tracing off is that
// of a valid traceparent only.
func TestTraceparentID(t *testing.T) {
	tests := []struct{ traceparent, want string }{
		{"00-" + clientTraceID + "-" + clientSpanID + "-01", clientTraceID},
		{"00-" + clientTraceID + "-" + clientSpanID + "-00", clientTraceID},
		{"", ""},
		{"00-00000000000000000000000000000000-" + clientSpanID + "-01", ""},
		{"00-" + clientTraceID + "-0000000000000000-01", ""},
		{"ff-" + clientTraceID + "-" + clientSpanID + "-01", ""},
		{"00-" + clientTraceID + "-" + clientSpanID, ""},
		{"zz-garbage", ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.traceparent != "" {
			h.Set("Traceparent", tt.traceparent)
		}
		if got := telemetry.TraceparentID(h); got != tt.want {
			t.Errorf("TraceparentID(traceparent %q) = %q; want %q", tt.traceparent, got, tt.want)
		}
	}
}

// knownMethods may name spans; any other method is "HTTP" in a span's
// name, so that clients cannot make up span names.
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PURGE", "BAN"}

// FuzzServerSpan: whatever method, host, path and traceparent a client
// sends, the server span is made without panicking and its name stays
// within the known methods and the route (low cardinality).
func FuzzServerSpan(f *testing.F) {
	f.Add("GET", "example.com:8080", "/a", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	f.Add("FROB", "[::1]:80", "/", "00-00000000000000000000000000000000-0000000000000000-01")
	f.Add("get", "", "", "zz-garbage")
	tr, sink := sinkTracer(f, 1)
	f.Fuzz(func(t *testing.T, method, host, path, traceparent string) {
		r := testRequest(method, host, path, "")
		r.Header["Traceparent"] = []string{traceparent}
		_, span := tr.StartRequest(r, testClient, testPeer)
		span.SetRoute("/")
		span.End(0, "")
		want := "HTTP /"
		if slices.Contains(knownMethods, method) {
			want = method + " /"
		}
		if name := (<-sink).Name(); name != want {
			t.Errorf("span name for method %q = %q; want %q", method, name, want)
		}
		_ = span.TraceID()
		_ = telemetry.TraceparentID(r.Header)
	})
}
