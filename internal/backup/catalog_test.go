package backup

import (
	"testing"
)

const sampleLabel = `START WAL LOCATION: 0/7000028 (file 000000010000000000000007)
CHECKPOINT LOCATION: 0/7000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-12-06 04:54:19 UTC
LABEL: tandem 20261206T045419Z
START TIMELINE: 1
`

func TestParseBackupLabel(t *testing.T) {
	l, err := parseBackupLabel([]byte(sampleLabel))
	if err != nil {
		t.Fatal(err)
	}
	if l.StartLSN.String() != "0/7000028" || l.StartWAL != "000000010000000000000007" || l.Timeline != 1 ||
		l.Label != "tandem 20261206T045419Z" || l.StartTime.IsZero() {
		t.Errorf("parseBackupLabel = %+v", l)
	}
	if got := segmentSize(l.StartLSN, l.StartWAL); got != 16<<20 {
		t.Errorf("segmentSize(%s, %s) = %d; want 16 MiB", l.StartLSN, l.StartWAL, got)
	}
	if got := segmentSize(0x7000028, "000000010000000000000070"); got != 1<<20 {
		t.Errorf("segmentSize(0/7000028, ...70) = %d; want 1 MiB", got)
	}
	for _, bad := range []string{"", "START TIMELINE: 1\n", "START WAL LOCATION: nonsense (file x)\nSTART TIMELINE: 1\n"} {
		if _, err := parseBackupLabel([]byte(bad)); err == nil {
			t.Errorf("parseBackupLabel(%q) = nil error; want one", bad)
		}
	}
}

func TestManifestWALRanges(t *testing.T) {
	r, err := manifestWALRanges([]byte(`{"PostgreSQL-Backup-Manifest-Version": 1, "Files": [],
		"WAL-Ranges": [{ "Timeline": 1, "Start-LSN": "0/7000028", "End-LSN": "0/7000100" }]}`))
	if err != nil || len(r) != 1 || r[0].Timeline != 1 || r[0].Start.String() != "0/7000028" || r[0].End.String() != "0/7000100" {
		t.Fatalf("manifestWALRanges = %+v, %v", r, err)
	}
	if segs := (WALRange{Timeline: 2, Start: 0x10FF0000, End: 0x12000010}).segments(16 << 20); len(segs) != 3 || segs[2].String() != "000000020000000000000012" {
		t.Errorf("segments = %v; want 3, the last 000000020000000000000012", segs)
	}
	for _, bad := range []string{"", "{}", `{"WAL-Ranges": [{"Timeline": 1, "Start-LSN": "x", "End-LSN": "0/1"}]}`} {
		if _, err := manifestWALRanges([]byte(bad)); err == nil {
			t.Errorf("manifestWALRanges(%q) = nil error; want one", bad)
		}
	}
}

func FuzzParseBackupLabel(f *testing.F) {
	f.Add([]byte(sampleLabel))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseBackupLabel(b)
		if err != nil {
			return
		}
		if _, err := ParseWALName(l.StartWAL); err != nil {
			t.Errorf("parseBackupLabel accepted a bad start segment %q", l.StartWAL)
		}
		segmentSize(l.StartLSN, l.StartWAL) // must not panic
	})
}

func FuzzManifestWALRanges(f *testing.F) {
	f.Add([]byte(`{"WAL-Ranges": [{ "Timeline": 1, "Start-LSN": "0/7000028", "End-LSN": "0/7000100" }]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		manifestWALRanges(b) // must not panic
	})
}
