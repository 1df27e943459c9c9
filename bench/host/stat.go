package host

import (
	"fmt"
	"slices"
)

// Stat is min, median and max of a measure over the trials that have it.
type Stat struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// StatOf summarizes xs; the zero Stat when there are none.
func StatOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{N: n, Min: s[0], Median: med, Max: s[n-1]}
}

// String is "min / median / max" in seconds' two decimals; "-" when not
// measured.
func (s Stat) String() string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", s.Min, s.Median, s.Max)
}

// Cell is "median (min–max)" with prec decimals; "-" when not measured.
func (s Stat) Cell(prec int) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.*f", prec, s.Median)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.Median, prec, s.Min, prec, s.Max)
}

// Med is the median alone with prec decimals; "-" when not measured.
func (s Stat) Med(prec int) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, s.Median)
}
