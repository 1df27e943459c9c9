package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestEdgeBodyAndConnectionProblems: the request body and connection
// settings are refused with their field path when out of range.
func TestEdgeBodyAndConnectionProblems(t *testing.T) {
	tests := []struct {
		name, src, path, msg string
	}{
		{"zero body timeout", "edge: { timeouts: { body: 0s } }\n", "edge.timeouts.body", "must be > 0"},
		{"negative min rate", "edge: { limits: { body_min_rate: -1 } }\n", "edge.limits.body_min_rate", "negative"},
		{"zero body buffer", "edge: { limits: { body_buffer: 0 } }\n", "edge.limits.body_buffer", "must be > 0 and <= 64MiB"},
		{"body buffer too large", "edge: { limits: { body_buffer: 128MiB } }\n", "edge.limits.body_buffer", "must be > 0 and <= 64MiB, got 128MiB"},
		{"body memory under the buffer", "edge: { limits: { body_buffer: 1MiB, body_memory: 512KiB } }\n", "edge.limits.body_memory", "at least edge.limits.body_buffer (1MiB)"},
		{"body disk under max body", "edge: { limits: { max_body_bytes: 2GiB } }\n", "edge.limits.body_disk", "at least edge.limits.max_body_bytes (2GiB)"},
		{"negative max connections", "edge: { limits: { max_connections: -5 } }\n", "edge.limits.max_connections", "must be >= 0"},
		{"request body mode", "edge: { routes: [{ app: web, request_body: chunked }] }\n", "edge.routes[0].request_body", `must be buffer or stream, got "chunked"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, base+tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error; want %s: %s", tt.src, tt.path, tt.msg)
			}
			for _, fe := range problems(t, err) {
				if fe.Path == tt.path && fe.Line == 5 && strings.Contains(fe.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("Parse(%q) =\n%v\nwant a problem at line 5, %s: ...%s...", tt.src, err, tt.path, tt.msg)
		})
	}
}

// TestEdgeBodyDefaults: the body temp path follows the data directory,
// and a relative one is made absolute against the stack file.
func TestEdgeBodyDefaults(t *testing.T) {
	st, err := parse(t, "cluster: { node: n1, data_dir: /var/lib/t }\napps:\n  web:\n    command: [bin/wiki]\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.Edge.BodyTempPath != "/var/lib/t/body" {
		t.Errorf("default body_temp_path = %q; want /var/lib/t/body", st.Edge.BodyTempPath)
	}
	st, err = parse(t, base+"edge: { body_temp_path: spool }\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(st.Dir, "spool"); st.Edge.BodyTempPath != want {
		t.Errorf("body_temp_path: spool = %q; want %q", st.Edge.BodyTempPath, want)
	}
	if r := st.Edge.Routes[0]; r.RequestBody != RequestBodyBuffer {
		t.Errorf("default route request_body = %q; want buffer", r.RequestBody)
	}
}
