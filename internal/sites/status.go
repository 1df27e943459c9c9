package sites

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/pgha"
)

// Status is the sites as this node last saw them.
type Status struct {
	Node       string `json:"node"`
	Site       string `json:"site"`        // this node's
	LeaderSite string `json:"leader_site"` // the site that normally leads
	// Leading is the site that leads now: the database primary's, else
	// the leader site outside an emergency; "" when none can be said.
	Leading string `json:"leading,omitempty"`
	// Emergency is the emergency declared, nil when none.
	Emergency *pgha.Emergency `json:"emergency,omitempty"`
	// Mode is this node's: "normal" or "emergency".
	Mode string `json:"mode"`
	// Changes are what this node changed on entering its mode.
	Changes []string `json:"changes,omitempty"`
	// Quorum: the last read of the sites' state succeeded; ReadAt is
	// when, ReadError why the last one failed.
	Quorum    bool         `json:"quorum"`
	ReadAt    time.Time    `json:"read_at,omitzero"`
	ReadError string       `json:"read_error,omitempty"`
	Sites     []SiteStatus `json:"sites"`
	// EmergencyAfter, Failback and StableFor are the settings.
	EmergencyAfter time.Duration `json:"emergency_after_ns"`
	Failback       string        `json:"failback"`
	StableFor      time.Duration `json:"stable_for_ns"`
	// FailbackRunning: a failback runs on this node; LastFailback is the
	// last one run here.
	FailbackRunning bool            `json:"failback_running,omitempty"`
	LastFailback    *FailbackResult `json:"last_failback,omitempty"`
}

// SiteStatus is one site.
type SiteStatus struct {
	Name string `json:"name"`
	// Leader: the configured leader site; Primary: it holds the
	// database primary.
	Leader  bool `json:"leader,omitempty"`
	Primary bool `json:"primary,omitempty"`
	// Up: one of its nodes has a live beat.
	Up bool `json:"up"`
	// Nodes are the nodes known in the site, UpNodes those with a live
	// beat.
	Nodes   []string `json:"nodes"`
	UpNodes []string `json:"up_nodes,omitempty"`
	// LagBytes and LagSeconds are how far the site's database standbys
	// are behind the primary (the most behind of them); -1 when it has
	// no streaming standby.
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
}

// Status returns the sites as this node last saw them.
func (c *Controller) Status() Status {
	c.mu.Lock()
	o, readAt, readErr, mode, changes, busy, fb := c.last, c.readAt, c.readErr, c.mode, c.changes, c.busy, c.lastFailback
	c.mu.Unlock()
	failback := "manual"
	if c.opts.AutoFailback {
		failback = "auto"
	}
	st := Status{Node: c.opts.Node, Site: c.opts.Site, LeaderSite: c.opts.LeaderSite, Emergency: o.Emergency, Mode: "normal",
		Changes: changes, Quorum: readErr == "" && !readAt.IsZero(), ReadAt: readAt, ReadError: readErr,
		EmergencyAfter: c.opts.EmergencyAfter, Failback: failback, StableFor: c.opts.StableFor, FailbackRunning: busy, LastFailback: fb}
	if mode.InEmergency() {
		st.Mode = "emergency"
	}
	var dbst *pgha.Status
	if c.opts.Database != nil {
		s := c.opts.Database.Status()
		dbst = &s
	}
	st.Sites = siteStatuses(o, c.opts.LeaderSite, c.opts.Site, dbst)
	if dbst != nil {
		db := dbState(*dbst)
		o.DB = &db
	}
	st.Leading = c.leading(o)
	return st
}

// Leading returns the site that takes clients now, as this node last
// read it (Status's Leading): the database primary's site, which is the
// emergency leader's during an emergency. It reads nothing: the DNS
// responder and the health proxy ask for every query.
func (c *Controller) Leading() string {
	c.mu.Lock()
	o := c.last
	c.mu.Unlock()
	return c.leading(o)
}

// Unreachable returns the site an emergency in progress was declared
// against, as this node last read it; "" when none is. Like Leading it
// reads nothing.
func (c *Controller) Unreachable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.last.Emergency; e != nil {
		return e.Site
	}
	return ""
}

// leading is the site of o's running database primary; without a
// database, the leader site unless an emergency is declared; "" when none
// can be said (no primary runs, or an emergency without a database: the
// sites up serve).
func (c *Controller) leading(o Observation) string {
	switch {
	case c.opts.Database == nil && o.Emergency == nil:
		return c.opts.LeaderSite
	case o.DB != nil && o.DB.LeaderRunning:
		return o.DB.LeaderSite
	}
	return ""
}

// siteStatuses lists every site known (from the beats, the database's
// members, this node and the leader site), by name.
func siteStatuses(o Observation, leaderSite, self string, db *pgha.Status) []SiteStatus {
	sites := map[string]*SiteStatus{}
	get := func(name string) *SiteStatus {
		if name == "" {
			name = "?"
		}
		s, ok := sites[name]
		if !ok {
			s = &SiteStatus{Name: name, Leader: name == leaderSite, LagBytes: -1, LagSeconds: -1}
			sites[name] = s
		}
		return s
	}
	get(leaderSite)
	get(self)
	for n, site := range o.Known {
		s := get(site)
		s.Nodes = append(s.Nodes, n)
	}
	for n, site := range o.Beats {
		s := get(site)
		s.Up = true
		s.UpNodes = append(s.UpNodes, n)
		if !slices.Contains(s.Nodes, n) {
			s.Nodes = append(s.Nodes, n)
		}
	}
	if db != nil {
		for _, m := range db.Members {
			s := get(m.Site)
			if m.Name == db.Leader && m.Role == pgha.PGPrimary.String() {
				s.Primary = true
				continue
			}
			if m.Streaming {
				s.LagBytes = max(s.LagBytes, m.LagBytes)
				s.LagSeconds = max(s.LagSeconds, m.LagSecs)
			}
		}
	}
	out := make([]SiteStatus, 0, len(sites))
	for _, name := range slices.Sorted(maps.Keys(sites)) {
		s := *sites[name]
		slices.Sort(s.Nodes)
		slices.Sort(s.UpNodes)
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b SiteStatus) int {
		if a.Leader != b.Leader {
			if a.Leader {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}
