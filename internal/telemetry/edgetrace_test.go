package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// These tests drive the request tracer through a real edge, cache and
// balancer, as the node wires them.

// lineLog hands every access log line to the test.
type lineLog chan accessLine

// accessLine is the part of an access log line the tests read.
type accessLine struct {
	TraceID string `json:"trace_id"`
}

func (l lineLog) Write(p []byte) (int, error) {
	var a accessLine
	if err := json.Unmarshal(p, &a); err != nil {
		return 0, err
	}
	l <- a
	return len(p), nil
}

func (l lineLog) next(t *testing.T) accessLine {
	t.Helper()
	select {
	case a := <-l:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no access log line in 5s")
		return accessLine{}
	}
}

// tracedEdge serves "/" from a cached app behind a balance pool and
// "/down" from an app whose only instance refuses connections, with the
// request tracer of tp in the edge and in both pools, as the node wires
// them (no tracer when tp makes none). The app answers with the
// traceparent it received in X-Seen-Traceparent.
func tracedEdge(t *testing.T, tp trace.TracerProvider) (url string, log lineLog) {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Traceparent", r.Header.Get("Traceparent"))
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, "page")
	}))
	t.Cleanup(app.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	var tracer edge.Tracer
	if tr := telemetry.NewRequestTracer(tp); tr != nil {
		tracer = tr
	}
	pool := func(name, addr string) http.RoundTripper {
		p, err := balance.NewPool(balance.Options{App: name, OnAttempt: edge.TraceAttempts(tracer)})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Add(balance.Target{ID: name + "-1", Addr: addr}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cache := runningCache(t)
	log = make(lineLog, 10)
	s, err := edge.New(edge.Options{
		Listen:    "127.0.0.1:0",
		Upstreams: map[string]http.RoundTripper{"web": pool("web", app.Listener.Addr().String()), "down": pool("down", deadAddr)},
		Routes:    []edge.Route{{Path: "/", App: "web", Cache: &httpcache.RouteOptions{}}, {Path: "/down", App: "down"}},
		Cache:     cache,
		AccessLog: log,
		Tracer:    tracer,
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s.Handler())
	t.Cleanup(front.Close)
	return front.URL, log
}

func request(t *testing.T, url, traceparent string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", "tracetest/1")
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func attrs(sp sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range sp.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestSpansOfAMissAndAHit: a miss has a server span (the client's span
// its parent), a cache lookup and an upstream attempt whose context the
// app received; a hit has no upstream attempt.
func TestSpansOfAMissAndAHit(t *testing.T) {
	sink := make(spanSink, 10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sink))
	url, log := tracedEdge(t, tp)

	resp := request(t, url+"/pages/a", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	spans := sink.next(t, 3)
	server, lookup, attempt := spans["GET /"], spans["cache lookup"], spans["upstream attempt"]
	if server == nil || lookup == nil || attempt == nil {
		t.Fatalf("spans = %v; want GET /, cache lookup, upstream attempt", spans)
	}
	if sc := server.SpanContext(); sc.TraceID().String() != clientTraceID || server.Parent().SpanID().String() != clientSpanID || !server.Parent().IsRemote() {
		t.Errorf("server span trace %s parent %s; want trace %s parent %s (remote)", sc.TraceID(), server.Parent().SpanID(), clientTraceID, clientSpanID)
	}
	if server.SpanKind() != trace.SpanKindServer || attempt.SpanKind() != trace.SpanKindClient {
		t.Errorf("kinds server %v, attempt %v; want server, client", server.SpanKind(), attempt.SpanKind())
	}
	for name, sp := range map[string]sdktrace.ReadOnlySpan{"cache lookup": lookup, "upstream attempt": attempt} {
		if sp.Parent().SpanID() != server.SpanContext().SpanID() {
			t.Errorf("%s parent = %s; want the server span %s", name, sp.Parent().SpanID(), server.SpanContext().SpanID())
		}
	}
	want := "00-" + clientTraceID + "-" + attempt.SpanContext().SpanID().String() + "-01"
	if got := resp.Header.Get("X-Seen-Traceparent"); got != want {
		t.Errorf("app saw traceparent %q; want %q (the upstream attempt)", got, want)
	}
	sa := attrs(server)
	for k, v := range map[attribute.Key]any{
		"http.request.method": "GET", "url.path": "/pages/a", "url.scheme": "http", "http.route": "/",
		"server.address": "127.0.0.1", "client.address": "127.0.0.1", "user_agent.original": "tracetest/1",
		"network.protocol.version": "1.1", "network.peer.address": "127.0.0.1", "http.response.status_code": int64(200),
	} {
		if got := sa[k].AsInterface(); got != v {
			t.Errorf("server span %s = %v; want %v", k, got, v)
		}
	}
	la := attrs(lookup)
	if st := la["tandem.cache.status"].AsString(); !strings.Contains(st, "fwd=uri-miss") || la["tandem.cache.hit"].AsBool() {
		t.Errorf("cache lookup status %q hit %v; want a miss", st, la["tandem.cache.hit"].AsBool())
	}
	if lookup.EndTime().After(attempt.StartTime()) {
		t.Errorf("cache lookup ended at %v, after the upstream attempt started at %v", lookup.EndTime(), attempt.StartTime())
	}
	aa := attrs(attempt)
	if aa["tandem.upstream.attempt"].AsInt64() != 1 || aa["tandem.upstream.instance"].AsString() != "web-1" || aa["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("upstream attempt attributes = %v; want attempt 1 at web-1, status 200", aa)
	}
	if line := log.next(t); line.TraceID != clientTraceID {
		t.Errorf("access log trace_id = %q; want %q", line.TraceID, clientTraceID)
	}

	request(t, url+"/pages/a", "")
	spans = sink.next(t, 2)
	server, lookup = spans["GET /"], spans["cache lookup"]
	if server == nil || lookup == nil {
		t.Fatalf("spans of a hit = %v; want GET / and cache lookup", spans)
	}
	select {
	case sp := <-sink:
		t.Errorf("a hit made span %q; want no upstream attempt", sp.Name())
	default:
	}
	if la := attrs(lookup); !la["tandem.cache.hit"].AsBool() {
		t.Errorf("cache lookup of a hit: status %q; want hit", la["tandem.cache.status"].AsString())
	}
	if server.Parent().IsValid() {
		t.Errorf("server span without traceparent has parent %v; want a root", server.Parent())
	}
	if line := log.next(t); line.TraceID != server.SpanContext().TraceID().String() {
		t.Errorf("access log trace_id = %q; want the sampled span's %s", line.TraceID, server.SpanContext().TraceID())
	}
}

// TestSpansOfAFailedAttempt: an instance that refuses the connection
// makes an upstream attempt span with the error and a 502 server span
// with status Error.
func TestSpansOfAFailedAttempt(t *testing.T) {
	sink := make(spanSink, 10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sink))
	url, _ := tracedEdge(t, tp)
	if resp := request(t, url+"/down/x", ""); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("GET /down/x = %d; want 502", resp.StatusCode)
	}
	spans := sink.next(t, 2)
	server, attempt := spans["GET /down"], spans["upstream attempt"]
	if server == nil || attempt == nil {
		t.Fatalf("spans = %v; want GET /down and upstream attempt", spans)
	}
	if server.Status().Code != codes.Error || attrs(server)["http.response.status_code"].AsInt64() != 502 ||
		attrs(server)["error.type"].AsString() != "upstream_error" {
		t.Errorf("server span status %v, attributes %v; want Error, 502, error.type upstream_error", server.Status(), attrs(server))
	}
	if attempt.Status().Code != codes.Error || len(attempt.Events()) == 0 || attrs(attempt)["tandem.upstream.address"].AsString() == "" {
		t.Errorf("attempt span status %v, events %v, attributes %v; want Error with the error recorded and the address", attempt.Status(), attempt.Events(), attrs(attempt))
	}
}

// TestTraceparentWithoutSampling: with tracing off the client's
// traceparent reaches the app untouched; with tracing on but sampled out,
// the app gets the edge's unsampled context. Either way the access log
// has a trace id only when one came in.
func TestTraceparentWithoutSampling(t *testing.T) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	tests := []struct {
		name        string
		tp          trace.TracerProvider
		traceparent string
		appSees     func(string) bool
		logID       string
	}{
		{"off, with traceparent", nil, "00-" + clientTraceID + "-" + clientSpanID + "-01",
			func(s string) bool { return s == "00-"+clientTraceID+"-"+clientSpanID+"-01" }, clientTraceID},
		{"off, none", nil, "", func(s string) bool { return s == "" }, ""},
		{"noop, none", noop.NewTracerProvider(), "", func(s string) bool { return s == "" }, ""},
		{"sampled out, none", never, "", func(s string) bool { return strings.HasSuffix(s, "-00") }, ""},
		{"sampled out by the client", never, "00-" + clientTraceID + "-" + clientSpanID + "-00",
			func(s string) bool {
				return strings.HasPrefix(s, "00-"+clientTraceID+"-") && !strings.Contains(s, clientSpanID) && strings.HasSuffix(s, "-00")
			}, clientTraceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, log := tracedEdge(t, tt.tp)
			resp := request(t, url+"/fresh", tt.traceparent)
			if got := resp.Header.Get("X-Seen-Traceparent"); !tt.appSees(got) {
				t.Errorf("app saw traceparent %q", got)
			}
			if line := log.next(t); line.TraceID != tt.logID {
				t.Errorf("access log trace_id = %q; want %q", line.TraceID, tt.logID)
			}
		})
	}
}

// runningCache returns a small cache, run until the test ends.
func runningCache(t testing.TB) *httpcache.Cache {
	t.Helper()
	cache, err := httpcache.New(httpcache.Options{Memory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cache
}
