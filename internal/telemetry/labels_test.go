package telemetry

import "testing"

func TestMethodLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"DELETE", "DELETE"},
		{"CONNECT", "CONNECT"}, {"OPTIONS", "OPTIONS"}, {"TRACE", "TRACE"}, {"PATCH", "PATCH"},
		{"get", "_OTHER"}, {"PURGE", "_OTHER"}, {"BAN", "_OTHER"}, {"", "_OTHER"}, {"GET ", "_OTHER"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.in); got != tt.want {
			t.Errorf("methodLabel(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestStatusClass(t *testing.T) {
	tests := []struct {
		in   int
		want string
	}{
		{101, "1xx"}, {200, "2xx"}, {204, "2xx"}, {304, "3xx"}, {404, "4xx"}, {499, "4xx"},
		{500, "5xx"}, {503, "5xx"}, {599, "5xx"}, {0, "1xx"}, {999, "5xx"},
	}
	for _, tt := range tests {
		if got := statusClasses[statusClass(tt.in)]; got != tt.want {
			t.Errorf("statusClass(%d) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
