package balance

import (
	"testing"
	"time"
)

const sec = int64(time.Second)

func testOutlier() outlier {
	return newOutlier(PassiveHealth{ConsecutiveErrors: 3, Consecutive5xx: 5, BaseEjection: time.Second, MaxEjection: 4 * time.Second})
}

// feed sends outcomes at now and returns the end of the last ejection they
// started, or 0.
func feed(o *outlier, now int64, outs ...outcome) (until int64) {
	for _, out := range outs {
		if u, ok := o.observe(out, now); ok {
			until = u
		}
	}
	return until
}

func TestOutlierThresholds(t *testing.T) {
	E, F, OK := outcomeError, outcome5xx, outcomeOK
	tests := []struct {
		name  string
		outs  []outcome
		eject bool
	}{
		{"errors below threshold", []outcome{E, E}, false},
		{"consecutive errors", []outcome{E, E, E}, true},
		{"success resets errors", []outcome{E, E, OK, E, E}, false},
		{"a 5xx answer resets errors", []outcome{E, E, F, E, E}, false},
		{"5xx below threshold", []outcome{F, F, F, F}, false},
		{"5xx burst", []outcome{F, F, F, F, F}, true},
		{"success resets 5xx", []outcome{F, F, F, F, OK, F}, false},
		{"errors do not reset 5xx", []outcome{F, F, E, F, F, F}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOutlier()
			if got := feed(&o, 0, tc.outs...) != 0; got != tc.eject {
				t.Errorf("ejected = %v; want %v", got, tc.eject)
			}
		})
	}
}

func TestOutlierBackOff(t *testing.T) {
	o := testOutlier()
	now := int64(0)
	want := []int64{1 * sec, 2 * sec, 4 * sec, 4 * sec} // doubling, capped at max
	for i, w := range want {
		var until int64
		if i == 0 {
			until = feed(&o, now, outcomeError, outcomeError, outcomeError)
		} else {
			// On probation the first failure is enough.
			until = feed(&o, now, outcomeError)
		}
		if until-now != w {
			t.Fatalf("ejection %d lasts %v; want %v", i+1, time.Duration(until-now), time.Duration(w))
		}
		// Results while ejected change nothing.
		if u := feed(&o, until-1, outcomeError, outcomeError, outcomeError); u != 0 {
			t.Fatalf("ejection %d: failures while ejected ejected again", i+1)
		}
		now = until
	}
}

func TestOutlierProbationSuccess(t *testing.T) {
	o := testOutlier()
	until := feed(&o, 0, outcomeError, outcomeError, outcomeError)
	if !o.suspect() {
		t.Fatalf("suspect() = false while ejected; want true")
	}
	if u := feed(&o, until, outcomeOK); u != 0 || o.suspect() {
		t.Fatalf("success on probation: ejected %v, suspect %v; want neither", u != 0, o.suspect())
	}
	// Probation is over: one failure is not enough any more.
	if u := feed(&o, until, outcomeError); u != 0 {
		t.Errorf("one failure after probation ejected the target")
	}
	// The back-off series goes on: the next ejection doubles.
	next := feed(&o, until, outcomeError, outcomeError)
	if next-until != 2*sec {
		t.Errorf("second ejection lasts %v; want 2s", time.Duration(next-until))
	}
}

func TestOutlierBackOffDecays(t *testing.T) {
	o := testOutlier()
	until := feed(&o, 0, outcomeError, outcomeError, outcomeError)
	feed(&o, until, outcomeOK)
	later := until + 4*sec // MaxEjection without an ejection
	next := feed(&o, later, outcomeError, outcomeError, outcomeError)
	if next-later != sec {
		t.Errorf("ejection after a quiet period lasts %v; want the base 1s", time.Duration(next-later))
	}
}

func TestOutlierDisabled(t *testing.T) {
	o := newOutlier(PassiveHealth{ConsecutiveErrors: -1, Consecutive5xx: -1, BaseEjection: time.Second, MaxEjection: time.Second})
	outs := make([]outcome, 100)
	for i := range outs {
		outs[i] = outcome(1 + i%2)
	}
	if feed(&o, 0, outs...) != 0 {
		t.Errorf("disabled passive health ejected a target")
	}
}
