package host

import "testing"

func TestStatOf(t *testing.T) {
	tests := []struct {
		in   []float64
		want Stat
	}{
		{nil, Stat{}},
		{[]float64{3}, Stat{1, 3, 3, 3}},
		{[]float64{5, 1, 3}, Stat{3, 1, 3, 5}},
		{[]float64{4, 1, 3, 2}, Stat{4, 1, 2.5, 4}},
		{[]float64{4, 1, 2, 3}, Stat{4, 1, 2.5, 4}},
	}
	for _, tt := range tests {
		if got := StatOf(tt.in); got != tt.want {
			t.Errorf("StatOf(%v) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestStatStrings(t *testing.T) {
	s := Stat{3, 1.04, 2.06, 5.01}
	for _, tt := range []struct{ got, want string }{
		{s.Cell(1), "2.1 (1.0–5.0)"},
		{Stat{1, 2, 2, 2}.Cell(1), "2.0"},
		{s.Med(1), "2.1"},
		{s.String(), "1.04 / 2.06 / 5.01"},
		{Stat{}.Cell(1), "-"},
		{Stat{}.Med(1), "-"},
		{Stat{}.String(), "-"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}
