package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"500ms", 500 * time.Millisecond},
		{"2s", 2 * time.Second},
		{"1m30s", 90 * time.Second},
		{"1h", time.Hour},
		{"14d", 14 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"-2s", -2 * time.Second},
		{"1µs", time.Microsecond},
		{"2562047h47m16.854775807s", time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty duration"},
		{"2", "use a unit, e.g. 2s"},
		{"1.5", "use a unit, e.g. 2s"},
		{"2 s", "invalid duration"},
		{"2x", "invalid duration"},
		{"d", "invalid duration"},
		{"s2", "invalid duration"},
		{"1d-2h", "invalid duration"},
		{"999999999d", "out of range"},
		{"106752d", "out of range"},
		{"106751d24h", "out of range"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Millisecond, "500ms"},
		{2 * time.Second, "2s"},
		{90 * time.Second, "1m30s"},
		{2 * time.Minute, "2m"},
		{time.Hour, "1h"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{14 * 24 * time.Hour, "14d"},
		{36 * time.Hour, "1d12h"},
		{24*time.Hour + 500*time.Millisecond, "1d500ms"},
		{-90 * time.Second, "-1m30s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q; want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(tt.want)
		if err != nil || time.Duration(back) != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, time.Duration(back), err, tt.in)
		}
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "2s", "1m30s", "500ms", "14d", "1.5d", "-3h", "2", "1d1d", ".5s", "9223372036854775807ns", "-2562047h47m16.854775808s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseDuration(%q): empty error message", s)
			}
			return
		}
		str := d.String()
		back, err := ParseDuration(str)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %d; String() = %q reads back as %d, %v", s, int64(d), str, int64(back), err)
		}
	})
}
