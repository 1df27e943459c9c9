package admin

import (
	"context"
	"time"

	"github.com/tandem-run/tandem/internal/uptime"
)

// CheckMonitor answers the checks endpoint from the node's uptime
// monitor: the only place its types become the API's.
type CheckMonitor struct{ Monitor *uptime.Monitor }

var _ Checks = CheckMonitor{}

// Checks implements Checks.
func (c CheckMonitor) Checks(context.Context) ([]CheckStatus, error) {
	out := []CheckStatus{}
	for _, s := range c.Monitor.Status() {
		cs := CheckStatus{Name: s.Name, URL: s.URL, State: s.State.String(), Since: s.Since, LastChecked: s.Last.At,
			LastError: s.Last.Error, LatencyMS: millis(s.Last.Latency), Nodes: make(map[string]CheckVerdict, len(s.Nodes)),
			History: make([]CheckProbe, 0, len(s.History))}
		for node, v := range s.Nodes {
			cs.Nodes[node] = CheckVerdict{State: v.State.String(), At: v.At, Error: v.Error}
		}
		for _, p := range s.History {
			state := uptime.Up
			if !p.OK {
				state = uptime.Down
			}
			cs.History = append(cs.History, CheckProbe{At: p.At, State: state.String(), LatencyMS: millis(p.Latency)})
		}
		out = append(out, cs)
	}
	return out, nil
}

// Summaries is the checks' part of the node's status.
func (c CheckMonitor) Summaries() []CheckSummary {
	if c.Monitor == nil {
		return nil
	}
	var out []CheckSummary
	for _, s := range c.Monitor.Status() {
		out = append(out, CheckSummary{Name: s.Name, State: s.State.String(), Since: s.Since})
	}
	return out
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
