package uptime

import (
	"strings"
	"testing"
	"time"
)

// TestQuorumOfNodes runs every node's Tracker over its own probes (rise 2,
// fall 2) and the Evaluator over their verdicts, one step per interval,
// and counts the alerts raised.
func TestQuorumOfNodes(t *testing.T) {
	tests := []struct {
		name   string
		probes []string // per node, one probe per interval: '+' passed, '-' failed
		want   []string // alerts in order
	}{
		{"one node healthy", []string{"++++++++"}, nil},
		{"one node down and back", []string{"+++----+++"}, []string{"up->down", "down->up"}},
		{"one node flapping", []string{"++-+-+-+-+-+"}, nil},
		{"two nodes, one bad network", []string{"++--------", "++++++++++"}, nil},
		{"two nodes, both failing", []string{"++--------", "+++-------"}, []string{"up->down"}},
		{"three nodes, one bad network", []string{
			"++------------",
			"++++++++++++++",
			"++++++++++++++"}, nil},
		{"three nodes, two failing", []string{
			"++------------",
			"+++++---------",
			"++++++++++++++"}, []string{"up->down"}},
		{"three nodes, outage and recovery", []string{
			"++----++++",
			"++----++++",
			"++----++++"}, []string{"up->down", "down->up"}},
		{"three nodes, each flapping", []string{
			"++-+-+-+-+-+-+-+",
			"++-+-+-+-+-+-+-+",
			"+++-+-+-+-+-+-+-"}, nil},
		{"three nodes, one bad network while another flaps", []string{
			"++--------------",
			"++-+-+-+-+-+-+-+",
			"++++++++++++++++"}, nil},
		{"three nodes, down from the start", []string{"---", "---", "+++"}, []string{"unknown->down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvaluator("home", interval, time.Hour)
			trackers := make([]Tracker, len(tt.probes))
			var got []string
			for i := range len(tt.probes[0]) {
				now := t0.Add(time.Duration(i) * interval)
				var vs []Verdict
				for n := range tt.probes {
					trackers[n].Rise, trackers[n].Fall = 2, 2
					st := trackers[n].Observe(tt.probes[n][i] == '+')
					vs = append(vs, Verdict{Check: "home", Node: string(rune('a' + n)), State: st, At: now})
				}
				for _, a := range e.Step(now, vs) {
					got = append(got, strings.TrimPrefix(describe([]Action{a}), "alert "))
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("nodes %q: alerts %q; want %q", tt.probes, got, tt.want)
			}
		})
	}
}
