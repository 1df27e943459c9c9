package pgha

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL write-ahead log position, a byte offset in the WAL.
// The zero value means "unknown" or "none".
type LSN uint64

// ErrBadLSN is returned by ParseLSN for text that is not an LSN.
var ErrBadLSN = errors.New("not a WAL location")

// ParseLSN parses PostgreSQL's text form of an LSN, two hexadecimal
// numbers of at most 32 bits each separated by a slash ("16/B374D848").
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("parse lsn %q: %w", s, ErrBadLSN)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse lsn %q: %w", s, ErrBadLSN)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse lsn %q: %w", s, ErrBadLSN)
	}
	return LSN(h<<32 | l), nil
}

// String formats the LSN the way PostgreSQL does.
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF)
}

// Sub returns l - o in bytes, 0 when o is ahead of l.
func (l LSN) Sub(o LSN) int64 {
	if o >= l {
		return 0
	}
	return int64(l - o)
}

// MarshalText writes the LSN as PostgreSQL does, so that records in the
// store read like PostgreSQL's own views.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses PostgreSQL's form.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
