package config

import (
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"64KiB", 64 << 10},
		{"512MiB", 512 << 20},
		{"20GiB", 20 << 30},
		{"1.5GB", 1_500_000_000},
		{"100kB", 100_000},
		{"100KB", 100_000},
		{"1.5KiB", 1536},
		{"512 MiB", 512 << 20},
		{"7B", 7},
		{"7EiB", 7 << 60},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || int64(got) != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, int64(got), err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty size"},
		{"-1", "negative"},
		{"-1MiB", "negative"},
		{"512M", `did you mean 512MiB or 512MB?`},
		{"1k", `did you mean 1KiB or 1kB?`},
		{"12 parsecs", "unknown unit"},
		{"0.5B", "whole number of bytes"},
		{"1.2.3MB", "invalid size"},
		{"8EiB", "too large"},
		{"9223372036854775808", "too large"},
		{"100000000000000000000.5GB", "too large"},
		{"MiB", "invalid size"},
	}
	for _, tt := range tests {
		_, err := ParseSize(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1kB"},
		{1024, "1KiB"},
		{512 * MiB, "512MiB"},
		{1_500_000_000, "1500MB"},
		{100 * MiB, "100MiB"},
		{12345, "12345"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		if back, err := ParseSize(tt.want); err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.want, int64(back), err, int64(tt.in))
		}
	}
}

func FuzzSize(f *testing.F) {
	for _, s := range []string{"0", "512MiB", "20GiB", "64KiB", "1.5GB", "100kB", "1048576", "0.5B", "-1", "1e3", "8EiB", " 1 MiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseSize(%q): empty error message", s)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d; want >= 0", s, int64(n))
		}
		str := n.String()
		back, err := ParseSize(str)
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d; String() = %q reads back as %d, %v", s, int64(n), str, int64(back), err)
		}
	})
}
