package backup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// WALKind is the kind of file PostgreSQL archives.
type WALKind int

const (
	WALSegment       WALKind = iota // 000000010000000000000003
	WALPartial                      // 000000010000000000000003.partial: the last, unfinished segment of a timeline, archived at promotion
	WALHistory                      // 00000002.history: how a timeline branched off its parent
	WALBackupHistory                // 000000010000000000000003.00000028.backup: a base backup's start and stop
)

// WALName is a parsed name of an archived WAL file.
type WALName struct {
	Kind     WALKind
	Timeline uint32
	Log, Seg uint32 // position of a segment (not set for a history file)
	Offset   uint32 // the start offset of a backup history file
}

// ErrBadWALName is wrapped by errors from ParseWALName.
var ErrBadWALName = errors.New("not a WAL file name")

// ParseWALName parses a file name as PostgreSQL passes it in %f.
func ParseWALName(s string) (WALName, error) {
	bad := func(why string) (WALName, error) { return WALName{}, fmt.Errorf("%w: %q: %s", ErrBadWALName, s, why) }
	switch {
	case len(s) == 8+len(".history") && strings.HasSuffix(s, ".history"):
		tli, ok := hex32(s[:8])
		if !ok || tli == 0 {
			return bad("timeline must be 8 upper-case hex digits, not 0")
		}
		return WALName{Kind: WALHistory, Timeline: tli}, nil
	case len(s) < 24:
		return bad("too short")
	}
	n := WALName{Kind: WALSegment}
	var ok1, ok2, ok3 bool
	n.Timeline, ok1 = hex32(s[:8])
	n.Log, ok2 = hex32(s[8:16])
	n.Seg, ok3 = hex32(s[16:24])
	if !ok1 || !ok2 || !ok3 || n.Timeline == 0 {
		return bad("a segment name is 24 upper-case hex digits, timeline not 0")
	}
	switch rest := s[24:]; {
	case rest == "":
	case rest == ".partial":
		n.Kind = WALPartial
	case len(rest) == 1+8+len(".backup") && rest[0] == '.' && strings.HasSuffix(rest, ".backup"):
		off, ok := hex32(rest[1:9])
		if !ok {
			return bad("backup history offset must be 8 upper-case hex digits")
		}
		n.Kind, n.Offset = WALBackupHistory, off
	default:
		return bad("unknown suffix")
	}
	return n, nil
}

func hex32(s string) (uint32, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

// String formats the name as PostgreSQL does.
func (n WALName) String() string {
	switch n.Kind {
	case WALHistory:
		return fmt.Sprintf("%08X.history", n.Timeline)
	case WALPartial:
		return n.segment() + ".partial"
	case WALBackupHistory:
		return fmt.Sprintf("%s.%08X.backup", n.segment(), n.Offset)
	}
	return n.segment()
}

func (n WALName) segment() string { return fmt.Sprintf("%08X%08X%08X", n.Timeline, n.Log, n.Seg) }

// Position orders segments by where they are in the WAL, whatever their
// timeline: log and segment numbers together.
func (n WALName) Position() uint64 { return uint64(n.Log)<<32 | uint64(n.Seg) }

// LSN is a PostgreSQL write-ahead log position.
type LSN uint64

// ParseLSN parses the X/Y form PostgreSQL prints.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// SegmentName is the segment holding lsn on timeline tli, for segments of
// segSize bytes.
func SegmentName(tli uint32, lsn LSN, segSize uint64) WALName {
	segno := uint64(lsn) / segSize
	perLog := (uint64(1) << 32) / segSize
	return WALName{Kind: WALSegment, Timeline: tli, Log: uint32(segno / perLog), Seg: uint32(segno % perLog)}
}
