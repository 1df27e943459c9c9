package supervise

import (
	"slices"
	"strings"
	"testing"
)

func TestReadLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\nb\n", []string{"a", "b"}},
		{"a\r\nb", []string{"a", "b"}},
		{"\n\n", []string{"", ""}},
		{"0123456789abcdefXY\n", []string{"0123456789abcdef", "XY"}},
		{"0123456789abcdef\nx\n", []string{"0123456789abcdef", "x"}}, // exactly max: no empty piece
		{"0123456789abcdef\r\nx\n", []string{"0123456789abcdef", "x"}},
		{"0123456789abcdef\n\n", []string{"0123456789abcdef", ""}},
		{strings.Repeat("z", 36), []string{strings.Repeat("z", 16), strings.Repeat("z", 16), "zzzz"}},
	}
	for _, tt := range tests {
		var got []string
		if err := readLines(strings.NewReader(tt.in), 16, func(l string) { got = append(got, l) }); err != nil {
			t.Fatalf("readLines(%q) = %v", tt.in, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("readLines(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzReadLines(f *testing.F) {
	f.Add("a\nb\r\n", 16)
	f.Add(strings.Repeat("x", 40)+"\n", 16)
	f.Fuzz(func(t *testing.T, in string, max int) {
		max = 16 + max%64
		if max < 16 {
			max += 64
		}
		var got []string
		if err := readLines(strings.NewReader(in), max, func(l string) { got = append(got, l) }); err != nil {
			t.Fatal(err)
		}
		for _, l := range got {
			if len(l) > max {
				t.Fatalf("line of %d bytes; max %d", len(l), max)
			}
		}
		// Nothing but line endings is lost.
		strip := func(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }
		if a, b := strip(strings.Join(got, "")), strip(in); a != b {
			t.Fatalf("lines hold %q; input %q", a, b)
		}
	})
}

func TestLogTail(t *testing.T) {
	tail := newLogTail(3)
	if got := tail.snapshot(); len(got) != 0 {
		t.Errorf("empty snapshot() = %q; want none", got)
	}
	for _, l := range []string{"1", "2"} {
		tail.add(l)
	}
	if got := tail.snapshot(); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("snapshot() = %q; want [1 2]", got)
	}
	for _, l := range []string{"3", "4", "5"} {
		tail.add(l)
	}
	if got := tail.snapshot(); !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Errorf("snapshot() = %q; want [3 4 5]", got)
	}
}
