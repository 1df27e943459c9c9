package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/sites"
)

// Sites is what the sites endpoints need of the node: the sites as it
// sees them, and failbacks.
type Sites interface {
	Status(ctx context.Context) SitesStatus
	Failback(ctx context.Context) (FailbackResult, error)
}

// SitesStatus is the answer to GET /v1/sites.
type SitesStatus struct {
	Node       string `json:"node"`
	Site       string `json:"site"`
	LeaderSite string `json:"leader_site"`
	// Leading is the site that leads now (it holds the database
	// primary); "" when none can be said.
	Leading   string           `json:"leading,omitempty"`
	Emergency *EmergencyStatus `json:"emergency,omitempty"`
	// Mode is this node's: normal or emergency; Changes what it changed
	// on entering it.
	Mode    string   `json:"mode"`
	Changes []string `json:"changes,omitempty"`
	// Quorum: this node's last read of the sites reached the quorum.
	Quorum    bool         `json:"quorum"`
	ReadError string       `json:"read_error,omitempty"`
	Sites     []SiteStatus `json:"sites"`
	// EmergencyAfter, Failback (manual or auto) and StableFor are the
	// stack file's.
	EmergencyAfter  time.Duration   `json:"emergency_after"`
	Failback        string          `json:"failback"`
	StableFor       time.Duration   `json:"stable_for"`
	FailbackRunning bool            `json:"failback_running,omitempty"`
	LastFailback    *FailbackResult `json:"last_failback,omitempty"`
}

// EmergencyStatus is an emergency in progress.
type EmergencyStatus struct {
	Site  string    `json:"site"` // the site declared unreachable
	Since time.Time `json:"since"`
	By    string    `json:"by"`
	Cause string    `json:"cause"`
}

// SiteStatus is one site.
type SiteStatus struct {
	Name    string   `json:"name"`
	Leader  bool     `json:"leader,omitempty"`  // the configured leader site
	Primary bool     `json:"primary,omitempty"` // holds the database primary
	Up      bool     `json:"up"`
	Nodes   []string `json:"nodes"`
	UpNodes []string `json:"up_nodes,omitempty"`
	// LagBytes and LagSeconds are how far its database standbys are
	// behind the primary; -1 when none streams.
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
}

// FailbackResult is the answer to POST /v1/sites/failback.
type FailbackResult struct {
	Site   string `json:"site"`
	Target string `json:"target,omitempty"`
	// Switchover is how long the database switchover took: writes paused
	// for at most that long.
	Switchover time.Duration `json:"switchover"`
	Started    time.Time     `json:"started"`
	Ended      time.Time     `json:"ended"`
	Error      string        `json:"error,omitempty"`
}

// failbackTimeout bounds a failback asked through the API.
const failbackTimeout = 2 * time.Minute

func (s *Server) registerSites(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/sites", s.sitesStatus)
	mux.HandleFunc("POST /v1/sites/failback", s.sitesFailback)
}

func (s *Server) sites(w http.ResponseWriter) Sites {
	if s.opts.Sites == nil {
		writeErr(w, Errorf(ErrNotFound, "the stack has no sites section"))
	}
	return s.opts.Sites
}

func (s *Server) sitesStatus(w http.ResponseWriter, r *http.Request) {
	if st := s.sites(w); st != nil {
		writeJSON(w, http.StatusOK, st.Status(r.Context()))
	}
}

func (s *Server) sitesFailback(w http.ResponseWriter, r *http.Request) {
	st := s.sites(w)
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), failbackTimeout)
	defer cancel()
	res, err := st.Failback(ctx)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Sites returns the sites as the node sees them.
func (c *Client) Sites(ctx context.Context) (SitesStatus, error) {
	var st SitesStatus
	err := c.do(ctx, http.MethodGet, "/v1/sites", &st)
	return st, err
}

// Failback hands the lead back to the leader site and ends the
// emergency; it returns once done.
func (c *Client) Failback(ctx context.Context) (FailbackResult, error) {
	var res FailbackResult
	err := c.doJSON(ctx, http.MethodPost, "/v1/sites/failback", struct{}{}, &res)
	return res, err
}

// SitesOf answers the sites endpoints from the node's controller: the
// only place the sites package's types become the API's.
type SitesOf struct {
	C *sites.Controller
}

var _ Sites = SitesOf{}

// Status implements Sites.
func (s SitesOf) Status(context.Context) SitesStatus {
	st := s.C.Status()
	out := SitesStatus{Node: st.Node, Site: st.Site, LeaderSite: st.LeaderSite, Leading: st.Leading, Mode: st.Mode, Changes: st.Changes,
		Quorum: st.Quorum, ReadError: st.ReadError, Sites: []SiteStatus{}, EmergencyAfter: st.EmergencyAfter, Failback: st.Failback,
		StableFor: st.StableFor, FailbackRunning: st.FailbackRunning}
	if e := st.Emergency; e != nil {
		out.Emergency = &EmergencyStatus{Site: e.Site, Since: e.Since, By: e.By, Cause: e.Cause}
	}
	for _, x := range st.Sites {
		out.Sites = append(out.Sites, SiteStatus{Name: x.Name, Leader: x.Leader, Primary: x.Primary, Up: x.Up, Nodes: x.Nodes,
			UpNodes: x.UpNodes, LagBytes: x.LagBytes, LagSeconds: x.LagSeconds})
	}
	if fb := st.LastFailback; fb != nil {
		r := failbackResult(*fb)
		out.LastFailback = &r
	}
	return out
}

// Failback implements Sites: what the sites refuse is the API's conflict.
func (s SitesOf) Failback(ctx context.Context) (FailbackResult, error) {
	res, err := s.C.Failback(ctx)
	switch {
	case errors.Is(err, sites.ErrNoEmergency), errors.Is(err, sites.ErrNotReady), errors.Is(err, sites.ErrFailbackRunning):
		return FailbackResult{}, Errorf(ErrConflict, "%w", err)
	case err != nil:
		return FailbackResult{}, DatabaseOf{}.switchoverError(err)
	}
	return failbackResult(res), nil
}

func failbackResult(r sites.FailbackResult) FailbackResult {
	return FailbackResult{Site: r.Site, Target: r.Target, Switchover: r.Switchover, Started: r.Started, Ended: r.Ended, Error: r.Error}
}
