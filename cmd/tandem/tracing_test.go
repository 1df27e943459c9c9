package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver that keeps every span it is
// sent, with its resource's attributes.
type otlpReceiver struct {
	mu       sync.Mutex // guards the fields below
	spans    []*tracepb.Span
	resource map[string]string // attributes of the last resource seen
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf at /v1/traces", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	req := new(collectorpb.ExportTraceServiceRequest)
	if err != nil || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		rc.resource = attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			rc.spans = append(rc.spans, ss.Spans...)
		}
	}
	rc.mu.Unlock()
	b, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(b)
}

// attrMap renders string, integer and boolean attribute values as strings.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = strconv.FormatBool(v.BoolValue)
		}
	}
	return m
}

const tracedTestapp = `
cluster: { data_dir: "{{dir}}", node: n1, zone: a }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
tracing: { otlp_endpoint: "{{otlp}}", service_name: tandem-e2e }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 1
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
`

// TestTracingThroughTheEdge: a request with a client's traceparent makes
// a server span under the client's span, a cache lookup and an upstream
// attempt span, whose context is the traceparent the app receives; the
// spans reach an OTLP/HTTP receiver when tandem stops, and the access log
// line carries the trace id.
func TestTracingThroughTheEdge(t *testing.T) {
	t.Parallel()
	rc := new(otlpReceiver)
	otlp := httptest.NewServer(rc)
	defer otlp.Close()
	n := startNode(t, strings.ReplaceAll(tracedTestapp, "{{otlp}}", otlp.URL))
	n.waitFor("1 healthy instance", 20*time.Second, healthy("web", 1))

	const traceID, clientSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.edge+"/headers?probe=1", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	req.Header.Set("User-Agent", "e2e-tracing/1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /headers = %d: %s", resp.StatusCode, body)
	}
	appParent := ""
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Traceparent: "); ok {
			appParent = v
		}
	}

	n.stop() // the last spans are exported on the way out
	if code := n.wait(30 * time.Second); code != 0 {
		t.Fatalf("tandem exit code %d", code)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, sp := range rc.spans {
		if hex.EncodeToString(sp.TraceId) == traceID {
			byName[sp.Name] = sp
		}
	}
	server, lookup, attempt := byName["GET /"], byName["cache lookup"], byName["upstream attempt"]
	if server == nil || lookup == nil || attempt == nil {
		t.Fatalf("spans of trace %s = %v; want GET /, cache lookup and upstream attempt", traceID, byName)
	}
	if got := hex.EncodeToString(server.ParentSpanId); got != clientSpan || server.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span parent %s kind %v; want the client's span %s, server", got, server.Kind, clientSpan)
	}
	serverID := hex.EncodeToString(server.SpanId)
	for _, sp := range []*tracepb.Span{lookup, attempt} {
		if got := hex.EncodeToString(sp.ParentSpanId); got != serverID {
			t.Errorf("%s parent = %s; want the server span %s", sp.Name, got, serverID)
		}
	}
	if want := "00-" + traceID + "-" + hex.EncodeToString(attempt.SpanId) + "-01"; appParent != want {
		t.Errorf("app received traceparent %q; want %q (the upstream attempt's)", appParent, want)
	}
	sa := attrMap(server.Attributes)
	for k, want := range map[string]string{
		"http.request.method": "GET", "url.path": "/headers", "url.scheme": "http", "http.route": "/",
		"server.address": "127.0.0.1", "client.address": "127.0.0.1", "user_agent.original": "e2e-tracing/1",
		"network.protocol.version": "1.1", "http.response.status_code": "200",
	} {
		if sa[k] != want {
			t.Errorf("server span %s = %q; want %q", k, sa[k], want)
		}
	}
	if la := attrMap(lookup.Attributes); !strings.HasPrefix(la["tandem.cache.status"], "tandem; fwd=") || la["tandem.cache.hit"] != "false" {
		t.Errorf("cache lookup attributes = %v; want a forwarded miss", la)
	}
	if aa := attrMap(attempt.Attributes); aa["tandem.upstream.attempt"] != "1" || !strings.HasPrefix(aa["tandem.upstream.instance"], "web-") ||
		aa["http.response.status_code"] != "200" {
		t.Errorf("upstream attempt attributes = %v; want attempt 1 at a web instance, 200", aa)
	}
	for k, want := range map[string]string{"service.name": "tandem-e2e", "tandem.node": "n1", "tandem.zone": "a"} {
		if rc.resource[k] != want {
			t.Errorf("resource %s = %q; want %q", k, rc.resource[k], want)
		}
	}

	found := false
	sc := bufio.NewScanner(strings.NewReader(n.stdout.String()))
	for sc.Scan() {
		var line struct {
			Path    string `json:"path"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Path == "/headers?probe=1" {
			found = true
			if line.TraceID != traceID {
				t.Errorf("access log trace_id = %q; want %q", line.TraceID, traceID)
			}
		}
	}
	if !found {
		t.Errorf("no access log line for /headers?probe=1 in:\n%s", tail(n.stdout.String(), 20))
	}
}
