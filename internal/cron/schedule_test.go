package cron

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	utc := time.UTC
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		spec string
		loc  *time.Location
		from string
		want []string // successive firings, in loc
	}{
		{"*/15 * * * *", utc, "2026-01-05 10:07:30", []string{"2026-01-05 10:15:00", "2026-01-05 10:30:00"}},
		{"0 6 * * *", utc, "2026-01-05 06:00:00", []string{"2026-01-06 06:00:00"}},
		{"@daily", utc, "2026-12-31 23:59:59", []string{"2027-01-01 00:00:00"}},
		{"@yearly", utc, "2026-03-01 00:00:00", []string{"2027-01-01 00:00:00"}},
		{"0 9 * * mon-fri", utc, "2026-01-02 10:00:00", []string{"2026-01-05 09:00:00", "2026-01-06 09:00:00"}},
		{"0 0 * * 7", utc, "2026-01-01 00:00:00", []string{"2026-01-04 00:00:00"}},
		// Both day fields restricted: either matches (Friday or the 13th).
		{"0 0 13 * fri", utc, "2026-01-01 00:00:00", []string{"2026-01-02 00:00:00", "2026-01-09 00:00:00", "2026-01-13 00:00:00"}},
		{"0 0 29 2 *", utc, "2026-01-01 00:00:00", []string{"2028-02-29 00:00:00"}},
		{"5,10-12/2 3 * jan,dec *", utc, "2026-01-01 03:06:00", []string{"2026-01-01 03:10:00", "2026-01-01 03:12:00", "2026-01-02 03:05:00"}},
		{"0 */6 * * *", utc, "2026-01-01 05:00:00", []string{"2026-01-01 06:00:00", "2026-01-01 12:00:00"}},
		// 2:30 does not exist on 2026-03-08 in New York: that day does not fire.
		{"30 2 * * *", ny, "2026-03-07 03:00:00", []string{"2026-03-09 02:30:00"}},
		// 1:30 happens twice on 2026-11-01 in New York: it fires once.
		{"30 1 * * *", ny, "2026-11-01 00:00:00", []string{"2026-11-01 01:30:00", "2026-11-02 01:30:00"}},
		{"*/30 * * * *", ny, "2026-11-01 00:45:00", []string{"2026-11-01 01:00:00", "2026-11-01 01:30:00", "2026-11-01 02:00:00"}},
	}
	for _, tt := range tests {
		s, err := Parse(tt.spec)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.spec, err)
		}
		cur := at(tt.loc, tt.from)
		for _, w := range tt.want {
			next := s.Next(cur, tt.loc)
			if got := next.In(tt.loc).Format("2006-01-02 15:04:05"); got != w {
				t.Errorf("%q: Next(%s) = %s; want %s", tt.spec, cur.In(tt.loc), got, w)
				break
			}
			cur = next
		}
	}
}

func TestNextAcrossFallBackMinutes(t *testing.T) {
	// Every minute through the repeated hour fires once per wall-clock
	// minute, and never goes backwards.
	ny := mustLoad(t, "America/New_York")
	s, _ := Parse("* * * * *")
	cur := time.Date(2026, 11, 1, 0, 58, 0, 0, ny)
	seen := map[string]bool{}
	for range 200 {
		next := s.Next(cur, ny)
		if !next.After(cur) {
			t.Fatalf("Next(%s) = %s; not after", cur, next)
		}
		key := next.In(ny).Format("15:04")
		if seen[key] {
			t.Fatalf("wall-clock minute %s fired twice", key)
		}
		seen[key] = true
		cur = next
	}
}

func TestEvery(t *testing.T) {
	s, err := Parse("@every 1m30s")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 500, time.UTC)
	if got, want := s.Next(from, nil), time.Date(2026, 1, 1, 0, 1, 30, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %s; want %s", got, want)
	}
	// Nodes that started at different moments fire at the same times.
	a := s.Next(time.Date(2026, 1, 1, 0, 0, 7, 0, time.UTC), nil)
	b := s.Next(time.Date(2026, 1, 1, 0, 1, 2, 0, time.UTC), nil)
	if !a.Equal(b) || !a.Equal(time.Date(2026, 1, 1, 0, 1, 30, 0, time.UTC)) {
		t.Errorf("Next from 00:00:07 = %s, from 00:01:02 = %s; want both 00:01:30", a, b)
	}
	if s.Every() != 90*time.Second || s.String() != "@every 1m30s" {
		t.Errorf("Every() = %s, String() = %q", s.Every(), s.String())
	}
}

func TestParseErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                  "want 5 fields",
		"* * * *":           "want 5 fields",
		"61 * * * *":        "minute 61: out of range 0-59",
		"* 24 * * *":        "hour 24: out of range",
		"* * 0 * *":         "day of month 0: out of range",
		"* * * 13 *":        "month 13",
		"* * * * 8":         "day of week 8",
		"5-1 * * * *":       "start is after end",
		"*/0 * * * *":       "step",
		"*/x * * * *":       "step",
		"a * * * *":         "want a number",
		"0 0 30 2 *":        "no such day",
		"@every 10ms":       "at least 1s",
		"@every":            "needs a duration",
		"@every soon":       "needs a duration",
		"@fortnightly":      "unknown descriptor",
		"1,,2 * * * *":      "want a number",
		"* * * * mon-xyz":   "want a number",
		"0001 * * * *":      "want a number",
		"@everyday":         "unknown descriptor",
		"* * * * * *":       "want 5 fields",
		"-1 * * * *":        "want a number",
		"1-2-3 * * * *":     "want a number",
		"* * * * sun/0":     "step",
		"60/5 * * * *":      "out of range",
		"* * * feb-jan *":   "start is after end",
		"\x00 * * * *":      "want a number",
		"0 0 31 4,6,9,11 *": "no such day",
	} {
		_, err := Parse(spec)
		if err == nil || !errors.Is(err, ErrBadSchedule) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want an ErrBadSchedule containing %q", spec, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/15 * * * *", "0 6 * * *", "@every 1s", "@daily", "5,10-12/2 3 * jan,dec mon-fri", "0 0 13 * fri", "30 2 * * *"} {
		f.Add(s)
	}
	from := time.Date(2026, 3, 8, 1, 59, 30, 0, time.UTC)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			if !errors.Is(err, ErrBadSchedule) {
				t.Fatalf("Parse(%q) = %v; not an ErrBadSchedule", spec, err)
			}
			return
		}
		if s.String() != strings.TrimSpace(spec) {
			t.Errorf("String() = %q; want %q", s.String(), strings.TrimSpace(spec))
		}
		for _, loc := range []*time.Location{time.UTC, ny} {
			next := s.Next(from, loc)
			if next.IsZero() {
				t.Errorf("Parse(%q) accepted a schedule that never fires", spec)
				continue
			}
			if !next.After(from) {
				t.Errorf("Next(%s) = %s; not after", from, next)
			}
			if s.Every() == 0 && (next.Second() != 0 || next.Nanosecond() != 0) {
				t.Errorf("Next(%s) = %s; not a whole minute", from, next)
			}
		}
	})
}
