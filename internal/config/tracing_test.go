package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTracingDefaultsOff(t *testing.T) {
	st, err := parse(t, base)
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{SampleRatio: 1, ServiceName: "tandem"}
	if !reflect.DeepEqual(st.Tracing, want) || st.Tracing.Enabled() {
		t.Errorf("tracing = %+v (enabled %v); want %+v, off", st.Tracing, st.Tracing.Enabled(), want)
	}
}

func TestTracingParse(t *testing.T) {
	st, err := parse(t, base+`tracing:
  otlp_endpoint: https://otel.example.com:4318/otlp
  sample_ratio: 0.25
  service_name: wiki-edge
  headers: { Authorization: "Bearer ${DB_PASSWORD}", x-scope: team-a }
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{OTLPEndpoint: "https://otel.example.com:4318/otlp", SampleRatio: 0.25, ServiceName: "wiki-edge",
		Headers: map[string]string{"Authorization": "Bearer s3cret", "x-scope": "team-a"}}
	if !reflect.DeepEqual(st.Tracing, want) || !st.Tracing.Enabled() {
		t.Errorf("tracing = %+v; want %+v, on", st.Tracing, want)
	}
}

func TestTracingProblems(t *testing.T) {
	tests := []struct {
		src  string
		path string
		msg  string
	}{
		{"tracing: { otlp_endpoint: collector.example.com:4318 }", "tracing.otlp_endpoint", "must be an http:// or https:// URL"},
		{"tracing: { otlp_endpoint: grpc://collector:4317 }", "tracing.otlp_endpoint", "must be an http:// or https:// URL"},
		{"tracing: { otlp_endpoint: \"http://\" }", "tracing.otlp_endpoint", "must name a host"},
		{"tracing: { otlp_endpoint: \"http://u:p@collector:4318\" }", "tracing.otlp_endpoint", "must not contain credentials"},
		{"tracing: { otlp_endpoint: \"http://collector:4318/?a=b\" }", "tracing.otlp_endpoint", "must not have a query"},
		{"tracing: { otlp_endpoint: \"http://collector:4318/%zz\" }", "tracing.otlp_endpoint", "invalid URL"},
		{"tracing: { sample_ratio: 1.5 }", "tracing.sample_ratio", "must be >= 0 and <= 1, got 1.5"},
		{"tracing: { sample_ratio: -0.1 }", "tracing.sample_ratio", "must be >= 0 and <= 1"},
		{"tracing: { service_name: \" \" }", "tracing.service_name", "must not be empty"},
		{"tracing: { headers: { \"bad header\": x } }", "tracing.headers.bad header", "is not a header field name"},
		{"tracing: { headers: { X-Key: \"a\\r\\nb\" } }", "tracing.headers.X-Key", "must not contain line breaks"},
		{"tracing: { endpoint: http://x }", "tracing.endpoint", "unknown field"},
	}
	for _, tt := range tests {
		_, err := parse(t, base+tt.src+"\n")
		if err == nil {
			t.Errorf("Parse(%q) = nil; want %s: %s", tt.src, tt.path, tt.msg)
			continue
		}
		found := false
		for _, p := range problems(t, err) {
			if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("Parse(%q) = %v; want %s: %s", tt.src, err, tt.path, tt.msg)
		}
	}
}
