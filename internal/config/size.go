package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Size is a number of bytes written with units in the stack file: "512MiB",
// "20GiB", "64KiB" (binary, 1024-based), "1.5GB", "100kB" (decimal,
// 1000-based) or a plain integer of bytes. Fractions are allowed as long as
// the result is a whole number of bytes. Convert with int64(s).
type Size int64

// Binary and decimal size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

// sizeUnits lists the accepted units; String prefers the first that divides a
// value exactly, so binary units come first.
var sizeUnits = []struct {
	name string
	mult int64
}{
	{"EiB", 1 << 60}, {"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"EB", 1e18}, {"PB", 1e15}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3},
	{"B", 1},
}

// sizeHint is appended to parse errors.
const sizeHint = "use e.g. 512MiB, 20GiB, 64KiB, 1.5GB, 100kB or a number of bytes"

// ParseSize parses a size such as "512MiB", "1.5GB" or "1048576". "KB" is
// read as 1000 bytes like "kB"; lower-case or single-letter units ("512m",
// "1g") are refused as ambiguous.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size: " + sizeHint)
	}
	n := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n < 0 {
		n = len(t)
	}
	num, unit := t[:n], strings.TrimSpace(t[n:])
	if !isNumber(num) {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeHint)
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		if l := strings.ToUpper(unit[:1]); strings.Contains("KMGTPE", l) && len(unit) <= 3 {
			dec := l + "B"
			if l == "K" {
				dec = "kB"
			}
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (did you mean %s%siB or %s%s?)", s, unit, num, l, num, dec)
		}
		return 0, fmt.Errorf("invalid size %q: unknown unit %q: %s", s, unit, sizeHint)
	}
	if !strings.Contains(num, ".") {
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return Size(v * mult), nil
	}
	if len(num) > 40 {
		return 0, fmt.Errorf("invalid size %q: too many digits", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeHint)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(r.Num().Int64()), nil
}

// sizeUnit returns the multiplier of a unit name; "" means bytes.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "":
		return 1, true
	case "KB":
		return 1e3, true
	}
	for _, su := range sizeUnits {
		if su.name == u {
			return su.mult, true
		}
	}
	return 0, false
}

// String formats s with the largest unit that divides it exactly ("512MiB",
// "1500MB", "100kB") or as plain bytes; ParseSize reads it back.
func (s Size) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10)
	}
	for _, su := range sizeUnits[:len(sizeUnits)-1] {
		if int64(s)%su.mult == 0 {
			return strconv.FormatInt(int64(s)/su.mult, 10) + su.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
