package admin

import (
	"context"
	"net/http"
	"time"
)

// Checks is what the uptime check endpoint needs of the node.
type Checks interface {
	// Checks returns every uptime check's state, its nodes' views and
	// this node's recent probes.
	Checks(ctx context.Context) ([]CheckStatus, error)
}

// CheckStatus is one uptime check, as GET /v1/checks lists it.
type CheckStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// State is the cluster's verdict: up, down or unknown (too few
	// probes yet). Since is when it began; zero while unknown.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// LastChecked, LastError and LatencyMS describe this node's latest
	// probe; LastError is "" when it passed.
	LastChecked time.Time `json:"last_checked,omitzero"`
	LastError   string    `json:"last_error"`
	LatencyMS   float64   `json:"latency_ms"`
	// Nodes are the latest verdicts of every node that reported, by node.
	Nodes map[string]CheckVerdict `json:"nodes"`
	// History is this node's last probes, oldest first, at most 100.
	History []CheckProbe `json:"history"`
}

// CheckVerdict is one node's view of a check: its state after its own
// rise/fall counting, when it formed it, and why its last probe failed.
type CheckVerdict struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// CheckProbe is one probe of a check by this node: state up if it passed.
type CheckProbe struct {
	At        time.Time `json:"at"`
	State     string    `json:"state"`
	LatencyMS float64   `json:"latency_ms"`
}

// CheckSummary is a check's line in the node's status.
type CheckSummary struct {
	Name  string    `json:"name"`
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
}

func (s *Server) registerChecks(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/checks", s.checks)
}

func (s *Server) checks(w http.ResponseWriter, r *http.Request) {
	if s.opts.Checks == nil {
		writeJSON(w, http.StatusOK, []CheckStatus{})
		return
	}
	cs, err := s.opts.Checks.Checks(r.Context())
	writeResult(w, cs, err)
}

// Checks lists the node's uptime checks.
func (c *Client) Checks(ctx context.Context) ([]CheckStatus, error) {
	var cs []CheckStatus
	err := c.call(ctx, http.MethodGet, "/v1/checks", nil, &cs)
	return cs, err
}
