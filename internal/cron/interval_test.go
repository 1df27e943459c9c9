package cron

import (
	"testing"
	"time"
)

func TestLongestInterval(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want time.Duration
	}{
		{"0 3 * * *", 24 * time.Hour},
		{"@every 90m", 90 * time.Minute},
		{"0 3 * * 1,4", 4 * 24 * time.Hour}, // Thursday to Monday
		{"@hourly", time.Hour},
		{"nonsense", 0},
	} {
		// Summer time may stretch a day by an hour.
		if got := LongestInterval(tc.spec); got < tc.want || got > tc.want+time.Hour {
			t.Errorf("LongestInterval(%q) = %s; want %s", tc.spec, got, tc.want)
		}
	}
}
