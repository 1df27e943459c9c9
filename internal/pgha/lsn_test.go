package pgha

import (
	"errors"
	"testing"
)

func TestParseLSN(t *testing.T) {
	tests := []struct {
		in   string
		want LSN
	}{
		{"0/0", 0},
		{"0/3000148", 0x3000148},
		{"16/B374D848", 0x16B374D848},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1},
	}
	for _, tc := range tests {
		got, err := ParseLSN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if s := got.String(); s != tc.in {
			t.Errorf("LSN(%d).String() = %q; want %q", got, s, tc.in)
		}
	}
	for _, bad := range []string{"", "/", "1/", "/1", "1", "g/1", "1/1/1", "100000000/0", "-1/0", " 1/1"} {
		if _, err := ParseLSN(bad); !errors.Is(err, ErrBadLSN) {
			t.Errorf("ParseLSN(%q) = %v; want ErrBadLSN", bad, err)
		}
	}
}

func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "x", "1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		back, err := ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLSN(%q) = %v, but its String %q parses to %v, %v", s, l, l.String(), back, err)
		}
	})
}
