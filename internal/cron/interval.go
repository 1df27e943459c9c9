package cron

import "time"

// LongestInterval is the longest time between two firings of the
// schedule spec, over its next ones (how late a run may be before it is
// overdue); 0 if it does not parse or never fires.
func LongestInterval(spec string) time.Duration {
	s, err := Parse(spec)
	if err != nil {
		return 0
	}
	if e := s.Every(); e > 0 {
		return e
	}
	t := s.Next(time.Now(), time.Local)
	var longest time.Duration
	for range 16 {
		next := s.Next(t, time.Local)
		if t.IsZero() || next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(t))
		t = next
	}
	return longest
}
