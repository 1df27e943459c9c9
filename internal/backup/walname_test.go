package backup

import (
	"errors"
	"testing"
)

func TestParseWALName(t *testing.T) {
	good := map[string]WALName{
		"000000010000000000000003":                 {Kind: WALSegment, Timeline: 1, Seg: 3},
		"0000000A00000002000000FF":                 {Kind: WALSegment, Timeline: 10, Log: 2, Seg: 255},
		"000000020000000000000005.partial":         {Kind: WALPartial, Timeline: 2, Seg: 5},
		"00000002.history":                         {Kind: WALHistory, Timeline: 2},
		"000000010000000000000002.00000028.backup": {Kind: WALBackupHistory, Timeline: 1, Seg: 2, Offset: 0x28},
	}
	for s, want := range good {
		got, err := ParseWALName(s)
		if err != nil || got != want {
			t.Errorf("ParseWALName(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if got.String() != s {
			t.Errorf("ParseWALName(%q).String() = %q", s, got.String())
		}
	}
	for _, s := range []string{"", "x", "00000000.history", "0000000g.history", "000000000000000000000003",
		"00000001000000000000000a", "000000010000000000000003.gz", "../../etc/passwd", "000000010000000000000003/x",
		"000000010000000000000003.0000002.backup", "+0000001000000000000000003"} {
		if _, err := ParseWALName(s); !errors.Is(err, ErrBadWALName) {
			t.Errorf("ParseWALName(%q) = %v; want ErrBadWALName", s, err)
		}
	}
}

func TestSegmentName(t *testing.T) {
	for _, tc := range []struct {
		tli  uint32
		lsn  string
		size uint64
		want string
	}{
		{1, "0/2000028", 16 << 20, "000000010000000000000002"},
		{3, "1/FF000000", 16 << 20, "0000000300000001000000FF"},
		{1, "0/5000000", 64 << 20, "000000010000000000000001"},
	} {
		lsn, err := ParseLSN(tc.lsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := SegmentName(tc.tli, lsn, tc.size).String(); got != tc.want {
			t.Errorf("SegmentName(%d, %s, %d) = %s; want %s", tc.tli, tc.lsn, tc.size, got, tc.want)
		}
		if lsn.String() != tc.lsn {
			t.Errorf("LSN(%s).String() = %s", tc.lsn, lsn)
		}
	}
}

func FuzzParseWALName(f *testing.F) {
	for _, s := range []string{"000000010000000000000003", "00000002.history", "000000020000000000000005.partial",
		"000000010000000000000002.00000028.backup"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseWALName(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Errorf("ParseWALName(%q).String() = %q; a parsed name must format back to itself", s, n.String())
		}
	})
}

func FuzzParseLSN(f *testing.F) {
	f.Add("0/2000028")
	f.Add("FFFFFFFF/FFFFFFFF")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		if back, err := ParseLSN(l.String()); err != nil || back != l {
			t.Errorf("ParseLSN(%q) = %v; its String %q parses to %v, %v", s, l, l.String(), back, err)
		}
	})
}
