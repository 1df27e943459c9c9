package uptime

import "time"

// CheckStatus is what a Monitor knows of one check.
type CheckStatus struct {
	Name string
	URL  string
	// State is the check's cluster state; Since when it began (zero
	// while Unknown).
	State State
	Since time.Time
	// Local is this node's own rise/fall view.
	Local State
	// Last is this node's latest probe; the zero Probe before the first.
	Last Probe
	// Nodes are the verdicts of every node that reported, by node,
	// stale ones included.
	Nodes map[string]Verdict
	// History is this node's last probes, oldest first, at most 100.
	History []Probe
}

// Status returns every check's status, in the order of Options.Checks.
// It is cheap: it reads memory only.
func (m *Monitor) Status() []CheckStatus {
	out := make([]CheckStatus, 0, len(m.checks))
	for _, c := range m.checks {
		c.mu.Lock()
		st := CheckStatus{Name: c.Name, URL: c.URL, Local: c.tracker.State(), Last: c.hist.last(), History: c.hist.list(),
			Nodes: make(map[string]Verdict, len(c.nodes))}
		st.State, st.Since = c.eval.State()
		for _, v := range c.nodes {
			st.Nodes[v.Node] = v
		}
		c.mu.Unlock()
		out = append(out, st)
	}
	return out
}
