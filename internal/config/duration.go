package config

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Duration is a time.Duration written with units in the stack file: "500ms",
// "2s", "1m30s", "1h", "14d". Days are exactly 24 hours. A number without a
// unit is refused (except "0"), because "2" could mean seconds or
// milliseconds. Convert with time.Duration(d).
type Duration time.Duration

// day is the "d" unit ParseDuration adds to Go's units.
const day = 24 * time.Hour

// ParseDuration parses a duration in Go's syntax (time.ParseDuration) with the
// additional unit "d" (24h), as in "14d" or "1d12h".
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration: use a unit, e.g. 2s")
	}
	sign, body := "", s
	if body[0] == '-' || body[0] == '+' {
		sign, body = body[:1], body[1:]
	}
	if isNumber(body) {
		if strings.Trim(body, "0.") == "" {
			return 0, nil // zero needs no unit, as in Go
		}
		return 0, fmt.Errorf("duration %q has no unit: use a unit, e.g. 2s", s)
	}
	// Split into number+unit segments; the days go through time.ParseDuration
	// as hours (then x24), all other segments as they are.
	var rest strings.Builder
	var days time.Duration
	for body != "" {
		n := strings.IndexFunc(body, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if n <= 0 {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 500ms, 2s, 1m30s, 1h, 14d", s)
		}
		u := n + strings.IndexFunc(body[n:], func(r rune) bool { return (r >= '0' && r <= '9') || r == '.' })
		if u < n {
			u = len(body)
		}
		num, unit := body[:n], body[n:u]
		body = body[u:]
		if unit != "d" {
			rest.WriteString(num + unit)
			continue
		}
		h, err := time.ParseDuration(num + "h")
		if err != nil || h > math.MaxInt64/24 || days > math.MaxInt64-h*24 {
			return 0, fmt.Errorf("invalid duration %q: out of range or malformed", s)
		}
		days += h * 24
	}
	var d time.Duration
	if rest.Len() > 0 {
		var err error
		d, err = time.ParseDuration(rest.String())
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 500ms, 2s, 1m30s, 1h, 14d", s)
		}
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("invalid duration %q: out of range", s)
	}
	d += days
	if sign == "-" {
		d = -d
	}
	return Duration(d), nil
}

// String formats d so that ParseDuration reads it back: whole days as "d",
// the rest like time.Duration.String without zero trailing units ("1m30s",
// "2m", "14d", "1d12h", "500ms", "0s").
func (d Duration) String() string {
	td := time.Duration(d)
	if td == math.MinInt64 {
		return td.String()
	}
	if td < 0 {
		return "-" + Duration(-td).String()
	}
	var b strings.Builder
	if n := td / day; n > 0 {
		fmt.Fprintf(&b, "%dd", n)
		td -= n * day
		if td == 0 {
			return b.String()
		}
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// isNumber reports whether s is a plain decimal number ("12", "1.5").
func isNumber(s string) bool {
	digits, dots := 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
