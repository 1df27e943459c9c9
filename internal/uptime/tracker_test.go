package uptime

import "testing"

func TestTracker(t *testing.T) {
	tests := []struct {
		rise, fall int
		probes     string // '+' passed, '-' failed
		want       string // state after each probe: u(nknown), U(p), D(own)
	}{
		{2, 2, "", ""},
		{2, 2, "+", "u"},
		{2, 2, "++", "uU"},
		{2, 2, "--", "uD"},
		{2, 2, "+-+-+-", "uuuuuu"},   // flapping never decides
		{2, 2, "++-+-+-", "uUUUUUU"}, // up stays up while it flaps
		{2, 2, "++--", "uUUD"},
		{2, 2, "++--++", "uUUDDU"},
		{2, 3, "++--+---", "uUUUUUUD"},
		{1, 1, "+-+-", "UDUD"},
		{0, 0, "+-", "UD"}, // zero counts as 1
		{3, 1, "-++-+++", "DDDDDDU"},
	}
	letter := map[State]byte{Unknown: 'u', Up: 'U', Down: 'D'}
	for _, tt := range tests {
		tr := Tracker{Rise: tt.rise, Fall: tt.fall}
		got := make([]byte, 0, len(tt.probes))
		for _, p := range []byte(tt.probes) {
			got = append(got, letter[tr.Observe(p == '+')])
		}
		if string(got) != tt.want || (len(got) > 0 && letter[tr.State()] != got[len(got)-1]) {
			t.Errorf("Tracker{Rise: %d, Fall: %d} after %q = %q (State %v); want %q", tt.rise, tt.fall, tt.probes, got, tr.State(), tt.want)
		}
	}
}

func TestStateText(t *testing.T) {
	for _, s := range []State{Unknown, Up, Down} {
		b, err := s.MarshalText()
		var back State
		if err != nil || back.UnmarshalText(b) != nil || back != s {
			t.Errorf("State %v: MarshalText = %q, %v; read back %v", s, b, err, back)
		}
	}
	if _, err := State(7).MarshalText(); err == nil {
		t.Errorf("State(7).MarshalText() = nil error; want one")
	}
	var s State
	if err := s.UnmarshalText([]byte("sideways")); err == nil {
		t.Errorf("UnmarshalText(%q) = nil; want an error", "sideways")
	}
}
