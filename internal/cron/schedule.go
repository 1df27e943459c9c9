package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ErrBadSchedule is wrapped by every error Parse returns.
var ErrBadSchedule = errors.New("invalid schedule")

// minEvery is the shortest @every interval: the runner's resolution.
const minEvery = time.Second

// Schedule says when a job runs. Make one with Parse.
type Schedule struct {
	spec  string
	every time.Duration // > 0 for @every; then the fields are unused
	// Bit i of each field is set when value i matches.
	minute, hour, dom, month, dow uint64
	// domStar and dowStar are set when the field was "*" (or "?"): then
	// only the other day field restricts the day.
	domStar, dowStar bool
}

// field describes one of the five fields of a cron expression.
type field struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day of month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	// Day of week 7 is Sunday too, as in Vixie cron.
	dowField = field{name: "day of week", min: 0, max: 7, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

// descriptors are the named schedules of Vixie cron.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Parse reads a schedule: five cron fields (minute, hour, day of month,
// month, day of week; each "*", a number, a range "a-b", a step "*/n" or
// "a-b/n", or a list of those separated by commas; months and days of
// week may be named: jan, mon), one of @yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly, or "@every DURATION" (at least 1s,
// e.g. @every 90s, @every 1h30m).
func Parse(spec string) (Schedule, error) {
	s := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(s, "@every"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		switch {
		case err != nil:
			return Schedule{}, fmt.Errorf("%w %q: @every needs a duration such as 30s or 1h30m", ErrBadSchedule, spec)
		case d < minEvery:
			return Schedule{}, fmt.Errorf("%w %q: @every must be at least %s", ErrBadSchedule, spec, minEvery)
		}
		return Schedule{spec: s, every: d}, nil
	}
	if strings.HasPrefix(s, "@") {
		expr, ok := descriptors[strings.ToLower(s)]
		if !ok {
			return Schedule{}, fmt.Errorf("%w %q: unknown descriptor; use @yearly, @monthly, @weekly, @daily, @hourly or @every DURATION", ErrBadSchedule, spec)
		}
		sch, err := Parse(expr)
		sch.spec = s
		return sch, err
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return Schedule{}, fmt.Errorf("%w %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", ErrBadSchedule, spec, len(fields))
	}
	sch := Schedule{spec: s}
	var err error
	parse := func(text string, f field, bits *uint64) {
		if err == nil {
			*bits, err = parseField(text, f)
		}
	}
	parse(fields[0], minuteField, &sch.minute)
	parse(fields[1], hourField, &sch.hour)
	parse(fields[2], domField, &sch.dom)
	parse(fields[3], monthField, &sch.month)
	parse(fields[4], dowField, &sch.dow)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w %q: %w", ErrBadSchedule, spec, err)
	}
	if sch.dow&(1<<7) != 0 {
		sch.dow |= 1 // 7 is Sunday
	}
	sch.domStar = fields[2] == "*" || fields[2] == "?"
	sch.dowStar = fields[4] == "*" || fields[4] == "?"
	if !sch.possible() {
		return Schedule{}, fmt.Errorf("%w %q: no such day ever comes", ErrBadSchedule, spec)
	}
	return sch, nil
}

// possible reports whether some month has a day the fields allow (30 2 *
// is February 30th: never).
func (s Schedule) possible() bool {
	if !s.dowStar && !s.domStar || s.domStar {
		return true // a day of week matches every month
	}
	longest := map[int]int{1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) != 0 && bits.TrailingZeros64(s.dom) <= longest[m] {
			return true
		}
	}
	return false
}

// parseField parses one comma-separated field into a bit set.
func parseField(text string, f field) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(text, ",") {
		b, err := parseRange(part, f)
		if err != nil {
			return 0, err
		}
		set |= b
	}
	return set, nil
}

// parseRange parses "*", "n", "a-b", each optionally followed by "/step".
func parseRange(text string, f field) (uint64, error) {
	rangeText, stepText, hasStep := strings.Cut(text, "/")
	lo, hi := f.min, f.max
	switch {
	case rangeText == "*" || rangeText == "?":
	case strings.Contains(rangeText, "-"):
		a, b, _ := strings.Cut(rangeText, "-")
		var err error
		if lo, err = f.value(a); err != nil {
			return 0, err
		}
		if hi, err = f.value(b); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("%s range %q: start is after end", f.name, rangeText)
		}
	default:
		v, err := f.value(rangeText)
		if err != nil {
			return 0, err
		}
		lo = v
		if !hasStep {
			hi = v // "n/step" means n to the maximum, by step
		}
	}
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || n > f.max-f.min+1 {
			return 0, fmt.Errorf("%s step %q: want a number from 1 to %d", f.name, stepText, f.max-f.min+1)
		}
		step = n
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set, nil
}

// value parses one number or name of the field.
func (f field) value(text string) (int, error) {
	if v, ok := f.names[strings.ToLower(text)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(text)
	if err != nil || len(text) > 2 {
		return 0, fmt.Errorf("%s %q: want a number from %d to %d", f.name, text, f.min, f.max)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s %d: out of range %d-%d", f.name, v, f.min, f.max)
	}
	return v, nil
}

// String returns the schedule as it was written.
func (s Schedule) String() string { return s.spec }

// Every returns the interval of an @every schedule; 0 for cron fields.
func (s Schedule) Every() time.Duration { return s.every }

// Next returns the first time after t at which the schedule fires, in
// t's location; cron fields are matched in loc (nil means t's location).
// It returns the zero time if no time within five years matches.
//
// Wall-clock times that do not exist (skipped by a daylight-saving change)
// do not fire; times that happen twice fire once, at the first.
func (s Schedule) Next(t time.Time, loc *time.Location) time.Time {
	if s.every > 0 {
		// Aligned to multiples of the interval (counted from Go's zero
		// time), so that every node of a cluster computes the same
		// firings and exactly one of them claims each.
		return t.Truncate(s.every).Add(s.every)
	}
	orig := t.Location()
	if loc == nil {
		loc = orig
	}
	start := t.In(loc)
	// From the next whole minute strictly after t.
	t = start.Add(time.Minute - time.Duration(start.Second())*time.Second - time.Duration(start.Nanosecond()))
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, loc)
	limit := t.Year() + 5
	for {
		c := s.search(t, loc, limit)
		if c.IsZero() {
			return c
		}
		if civil(c) > civil(start) {
			return c.In(orig)
		}
		// The clock went back and shows a time it showed before: that
		// wall-clock time has fired already.
		t = c.Add(time.Minute)
	}
}

// civil packs a time's wall-clock minute into a comparable number.
func civil(t time.Time) int64 {
	return ((int64(t.Year())*100+int64(t.Month()))*100+int64(t.Day()))*10000 + int64(t.Hour())*100 + int64(t.Minute())
}

// search returns the first time at or after t, a whole minute in loc,
// that the fields match; zero after the year limit.
func (s Schedule) search(t time.Time, loc *time.Location, limit int) time.Time {
wrap:
	for t.Year() <= limit {
		for s.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			if t.Month() == time.January {
				continue wrap
			}
		}
		for !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			if t.Day() == 1 {
				continue wrap
			}
		}
		for s.hour&(1<<uint(t.Hour())) == 0 {
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			if !next.After(t) {
				next = t.Truncate(time.Hour).Add(time.Hour)
			}
			t = next
			if t.Hour() == 0 {
				continue wrap
			}
		}
		for s.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			if t.Minute() == 0 {
				continue wrap
			}
		}
		return t
	}
	return time.Time{}
}

// dayMatches applies cron's rule for the two day fields: when both are
// restricted, a day matching either fires.
func (s Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}
