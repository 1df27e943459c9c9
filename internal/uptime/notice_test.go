package uptime

import (
	"strings"
	"testing"
	"time"
)

func TestNoticeOf(t *testing.T) {
	since := t0.Add(-90 * time.Minute)
	down := map[string]Verdict{"a": {Node: "a", State: Down, Error: "timeout after 5s"}, "b": {Node: "b", State: Down}, "c": {Node: "c", State: Up}}
	up := map[string]Verdict{"a": {Node: "a", State: Up}}
	tests := []struct {
		action           Action
		subject, message string
		state, previous  State
		repeat           bool
	}{
		{&Alert{Check: "home", From: Up, To: Down, Since: t0, FromSince: since, Nodes: down},
			"home is DOWN", "home is DOWN: 2 of 3 nodes see it failing (https://a/): a: timeout after 5s", Down, Up, false},
		{&Alert{Check: "home", From: Unknown, To: Down, Since: t0, Nodes: map[string]Verdict{"b": down["b"]}},
			"home is DOWN", "home is DOWN: 1 of 1 node see it failing (https://a/)", Down, Unknown, false},
		{&Renotify{Check: "home", Since: since, At: t0, Nodes: down},
			"home is still DOWN", "home is still DOWN, for 1h30m: 2 of 3 nodes see it failing (https://a/): a: timeout after 5s", Down, Down, true},
		{&Alert{Check: "home", From: Down, To: Up, Since: t0, FromSince: t0.Add(-95 * time.Second), Nodes: up},
			"home is UP", "home is UP again after 1m35s down (https://a/)", Up, Down, false},
	}
	for _, tt := range tests {
		n := noticeOf(tt.action, "https://a/")
		if n.Subject() != tt.subject || n.Message != tt.message || n.State != tt.state || n.Previous != tt.previous || n.Repeat() != tt.repeat ||
			n.URL != "https://a/" || !n.At.Equal(t0) || len(n.Nodes) == 0 {
			t.Errorf("noticeOf(%+v) = %+v, subject %q; want %q, %q, %v<-%v", tt.action, n, n.Subject(), tt.subject, tt.message, tt.state, tt.previous)
		}
	}
}

func TestRoundDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {1400 * time.Millisecond, "1s"}, {90 * time.Second, "1m30s"}, {2 * time.Minute, "2m"},
		{time.Hour, "1h"}, {time.Hour + 40*time.Second, "1h1m"}, {25 * time.Hour, "25h"}, {90 * time.Minute, "1h30m"},
	}
	for _, tt := range tests {
		if got := roundDuration(tt.d); got != tt.want {
			t.Errorf("roundDuration(%s) = %q; want %q", tt.d, got, tt.want)
		}
	}
}

func TestMemoryVerdicts(t *testing.T) {
	var mv MemoryVerdicts
	for _, v := range []Verdict{
		{Check: "b", Node: "n2", State: Up}, {Check: "a", Node: "n2", State: Up}, {Check: "a", Node: "n1", State: Up}, {Check: "a", Node: "n2", State: Down},
	} {
		if err := mv.Publish(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	all, err := mv.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range all {
		got = append(got, v.Check+"/"+v.Node+"="+v.State.String())
	}
	if want := "a/n1=up a/n2=down b/n2=up"; strings.Join(got, " ") != want {
		t.Errorf("All() = %q; want %q (latest per check and node, sorted)", strings.Join(got, " "), want)
	}
}
