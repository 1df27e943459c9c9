package telemetry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP/HTTP endpoint that keeps what it is sent.
type receiver struct {
	mu       sync.Mutex // guards the fields below
	paths    []string
	headers  []http.Header
	requests []*collectorpb.ExportTraceServiceRequest
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := new(collectorpb.ExportTraceServiceRequest)
	if err != nil || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.paths = append(rc.paths, r.URL.Path)
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.requests = append(rc.requests, req)
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Write(b)
}

func TestTracingExportsWithResource(t *testing.T) {
	rc := new(receiver)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	tr, err := NewTracing(TracingOptions{
		Endpoint: srv.URL + "/otlp/", Headers: map[string]string{"X-Api-Key": "k1"}, SampleRatio: 1,
		ServiceVersion: "1.2.3", HostName: "h1", Node: "n1", Zone: "a", Site: "home",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("Enabled() = false with an endpoint")
	}
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown = %v; want nil", err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.requests) != 1 {
		t.Fatalf("receiver got %d exports; want 1", len(rc.requests))
	}
	if rc.paths[0] != "/otlp/v1/traces" {
		t.Errorf("export path = %q; want /otlp/v1/traces", rc.paths[0])
	}
	if got := rc.headers[0].Get("X-Api-Key"); got != "k1" {
		t.Errorf("export header X-Api-Key = %q; want k1", got)
	}
	rs := rc.requests[0].ResourceSpans
	if len(rs) != 1 || len(rs[0].ScopeSpans) != 1 || len(rs[0].ScopeSpans[0].Spans) != 1 || rs[0].ScopeSpans[0].Spans[0].Name != "work" {
		t.Fatalf("export = %v; want one span named work", rc.requests[0])
	}
	attrs := map[string]string{}
	for _, kv := range rs[0].Resource.Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	for k, want := range map[string]string{
		"service.name": "tandem", "service.version": "1.2.3", "host.name": "h1", "service.instance.id": "n1",
		"tandem.node": "n1", "tandem.zone": "a", "tandem.site": "home",
	} {
		if attrs[k] != want {
			t.Errorf("resource attribute %s = %q; want %q", k, attrs[k], want)
		}
	}
}

func TestTracingOff(t *testing.T) {
	tr, err := NewTracing(TracingOptions{SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Error("Enabled() = true without an endpoint")
	}
	if _, ok := tr.TracerProvider().(noop.TracerProvider); !ok {
		t.Errorf("TracerProvider() = %T; want noop.TracerProvider", tr.TracerProvider())
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v; want nil", err)
	}
}

func TestNewTracingRejects(t *testing.T) {
	tests := []TracingOptions{
		{Endpoint: "127.0.0.1:4318", SampleRatio: 1},
		{Endpoint: "grpc://collector:4317", SampleRatio: 1},
		{Endpoint: "http://collector:4318", SampleRatio: 2},
		{Endpoint: "http://collector:4318/%zz", SampleRatio: 1},
	}
	for _, o := range tests {
		if tr, err := NewTracing(o); err == nil {
			tr.Shutdown(context.Background())
			t.Errorf("NewTracing(%+v) = nil error; want one", o)
		}
	}
}

// TestTracingLogsFailedExports: a receiver that refuses the spans shows up
// in the log, not on standard error through OpenTelemetry's global handler.
func TestTracingLogsFailedExports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	tr, err := NewTracing(TracingOptions{Endpoint: srv.URL, SampleRatio: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "trace export failed") {
		t.Errorf("log = %q; want a failed export", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
