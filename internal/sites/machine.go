package sites

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/pgha"
)

// Config describes the sites to a Machine.
type Config struct {
	// Node and Site are this node's.
	Node, Site string
	// LeaderSite is the site that normally leads.
	LeaderSite string
	// EmergencyAfter is how long the leader site must be seen down before
	// an emergency is declared.
	EmergencyAfter time.Duration
	// AutoFailback fails back by itself once the leader site has been
	// back, its database caught up, for StableFor.
	AutoFailback bool
	StableFor    time.Duration
	// MaxFailbackLag is how far behind the primary (bytes) the leader
	// site's database member may be for a failback to start: writes wait
	// while it catches up on the rest. DefaultMaxFailbackLag if 0.
	MaxFailbackLag int64
	// BackupDelay is how much later than the first node (by name) the
	// other nodes act, should the first not: DefaultBackupDelay if 0.
	BackupDelay time.Duration
}

// Defaults of Config.
const (
	DefaultMaxFailbackLag = 1 << 20
	DefaultBackupDelay    = 5 * time.Second
)

// ErrBadConfig is returned by NewMachine for an impossible Config.
var ErrBadConfig = errors.New("invalid sites config")

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Node == "" || c.Site == "" || c.LeaderSite == "":
		return c, fmt.Errorf("%w: node %q, site %q and leader site %q must be set", ErrBadConfig, c.Node, c.Site, c.LeaderSite)
	case c.EmergencyAfter <= 0:
		return c, fmt.Errorf("%w: emergency after %s <= 0", ErrBadConfig, c.EmergencyAfter)
	case c.AutoFailback && c.StableFor <= 0:
		return c, fmt.Errorf("%w: stable for %s <= 0", ErrBadConfig, c.StableFor)
	}
	if c.MaxFailbackLag <= 0 {
		c.MaxFailbackLag = DefaultMaxFailbackLag
	}
	if c.BackupDelay <= 0 {
		c.BackupDelay = DefaultBackupDelay
	}
	return c, nil
}

// Observation is what the Machine decides on, taken at Now.
type Observation struct {
	Now time.Time
	// Fresh: the sites' state was just read under quorum. The fields
	// below are the last read's either way.
	Fresh bool
	// Known maps every node that ever beat to its site; Beats the nodes
	// whose beat is live.
	Known, Beats map[string]string
	// Emergency is the emergency key, nil when none is declared; Rev its
	// revision.
	Emergency *pgha.Emergency
	Rev       int64
	// DB is the database as this node sees it; nil without one.
	DB *DBState
	// Busy: a failback runs.
	Busy bool
}

// DBState is what the Machine needs of the database's state.
type DBState struct {
	// Leader is the member holding the leader lease ("" for none),
	// LeaderSite its site; LeaderRunning: it runs as primary.
	Leader, LeaderSite string
	LeaderRunning      bool
	Members            []DBMember
}

// DBMember is one database member as the database's status shows it.
type DBMember struct {
	Name, Site string
	Streaming  bool  // a standby streaming from the primary
	LagBytes   int64 // behind the primary
}

// ActionKind says what the driver must do.
type ActionKind int

// The actions of a Machine.
const (
	// ActMode: apply Mode to this node (its apps' instances, its routes'
	// fallback pages).
	ActMode ActionKind = iota + 1
	// ActDeclare: write Emergency as the emergency key, if none is.
	ActDeclare
	// ActEnd: delete the emergency key if it is still at Rev.
	ActEnd
	// ActFailback: run a failback (Controller.Failback).
	ActFailback
)

var actionNames = map[ActionKind]string{ActMode: "mode", ActDeclare: "declare", ActEnd: "end", ActFailback: "failback"}

func (k ActionKind) String() string {
	if n, ok := actionNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one thing the driver must do.
type Action struct {
	Kind      ActionKind
	Mode      Mode            // ActMode
	Emergency *pgha.Emergency // ActDeclare
	Rev       int64           // ActEnd
	Reason    string
}

// Mode is what this node does: normally (Emergency nil), or in an
// emergency declared against another site.
type Mode struct {
	Emergency *pgha.Emergency
}

// InEmergency reports whether the mode is an emergency's.
func (m Mode) InEmergency() bool { return m.Emergency != nil }

// Machine decides, for one node, when the sites declare and end an
// emergency, when to fail back, and which mode the node runs in. It is
// pure: Step takes an Observation and returns Actions. It is not safe
// for concurrent use.
//
// The rules:
//   - A node outside the leader site declares an emergency when, in
//     reads made under quorum, no node of the leader site (which it has
//     known) has had a live beat for EmergencyAfter. A read that fails
//     (no quorum) starts the count again.
//   - An emergency ends when the database's primary runs in the leader
//     site again (a failback's switchover, or one made by hand).
//   - With AutoFailback, a failback starts once the leader site has had
//     live beats, and a database member streaming within MaxFailbackLag
//     of the primary, for StableFor.
//   - A node outside the site an emergency is declared against runs in
//     emergency mode; without quorum it keeps the mode it had.
//   - Among the nodes that may act, the first by name acts at once and
//     the others BackupDelay later: the writes are compare-and-swaps, so
//     two that act leave one result.
type Machine struct {
	cfg       Config
	mode      Mode
	modeSet   bool      // mode was decided once
	downSince time.Time // the leader site first seen down (no emergency)
	upSince   time.Time // the leader site first seen back and ready (emergency)
	endSince  time.Time // the primary first seen back in the emergency's site
}

// NewMachine checks cfg and returns a Machine.
func NewMachine(cfg Config) (*Machine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Machine{cfg: c}, nil
}

// Config returns the machine's configuration with its defaults.
func (m *Machine) Config() Config { return m.cfg }

// Step feeds one observation and returns what to do.
func (m *Machine) Step(o Observation) []Action {
	var acts []Action
	if o.Fresh || !m.modeSet {
		acts = append(acts, m.decideMode(o)...)
	}
	if !o.Fresh {
		m.downSince, m.upSince, m.endSince = time.Time{}, time.Time{}, time.Time{}
		return acts
	}
	if o.Emergency == nil {
		m.upSince, m.endSince = time.Time{}, time.Time{}
		return append(acts, m.watchLeader(o)...)
	}
	m.downSince = time.Time{}
	return append(acts, m.duringEmergency(o)...)
}

// decideMode returns ActMode when this node's mode changes.
func (m *Machine) decideMode(o Observation) []Action {
	var want Mode
	if e := o.Emergency; e != nil && e.Site != m.cfg.Site {
		want = Mode{Emergency: e}
	}
	if m.modeSet && sameMode(want, m.mode) {
		return nil
	}
	m.mode, m.modeSet = want, true
	why := "normal operation"
	if want.InEmergency() {
		why = fmt.Sprintf("emergency: site %s declared unreachable by %s", want.Emergency.Site, want.Emergency.By)
	}
	return []Action{{Kind: ActMode, Mode: want, Reason: why}}
}

func sameMode(a, b Mode) bool {
	if a.InEmergency() != b.InEmergency() {
		return false
	}
	return !a.InEmergency() || *a.Emergency == *b.Emergency
}

// watchLeader declares an emergency once the leader site has been down
// for EmergencyAfter.
func (m *Machine) watchLeader(o Observation) []Action {
	leader := m.cfg.LeaderSite
	if m.cfg.Site == leader || !hasSite(o.Known, leader) || hasSite(o.Beats, leader) {
		m.downSince = time.Time{}
		return nil
	}
	if m.downSince.IsZero() {
		m.downSince = o.Now
	}
	down := o.Now.Sub(m.downSince)
	if down < m.cfg.EmergencyAfter+m.delay(o, leader) {
		return nil
	}
	e := &pgha.Emergency{Site: leader, Since: o.Now, By: m.cfg.Node,
		Cause: fmt.Sprintf("no node of site %s reached the control plane's quorum for %s", leader, down.Round(100*time.Millisecond))}
	return []Action{{Kind: ActDeclare, Emergency: e, Reason: e.Cause}}
}

// duringEmergency ends the emergency once the primary is back in the
// site it was declared against, and fails back by itself when asked to.
func (m *Machine) duringEmergency(o Observation) []Action {
	e := o.Emergency
	if db := o.DB; db != nil && db.LeaderRunning && db.LeaderSite == e.Site {
		m.upSince = time.Time{}
		if m.endSince.IsZero() {
			m.endSince = o.Now
		}
		if o.Now.Sub(m.endSince) < m.delay(o, "") {
			return nil
		}
		return []Action{{Kind: ActEnd, Rev: o.Rev, Reason: fmt.Sprintf("the database primary %s runs in site %s again", db.Leader, e.Site)}}
	}
	m.endSince = time.Time{}
	if !m.cfg.AutoFailback || o.Busy {
		return nil
	}
	if !hasSite(o.Beats, e.Site) || !m.caughtUp(o, e.Site) {
		m.upSince = time.Time{}
		return nil
	}
	if m.upSince.IsZero() {
		m.upSince = o.Now
	}
	if o.Now.Sub(m.upSince) < m.cfg.StableFor+m.delay(o, "") {
		return nil
	}
	m.upSince = time.Time{} // the next try waits StableFor again
	return []Action{{Kind: ActFailback, Reason: fmt.Sprintf("site %s back and caught up for %s", e.Site, m.cfg.StableFor)}}
}

// caughtUp reports whether site has a database member ready to take the
// primary over (always, without a database).
func (m *Machine) caughtUp(o Observation, site string) bool {
	if o.DB == nil {
		return true
	}
	_, ok := FailbackTarget(*o.DB, site, m.cfg.MaxFailbackLag)
	return ok
}

// FailbackTarget is the database member of site that a failback hands
// the primary to: the least behind of those streaming within maxLag.
func FailbackTarget(db DBState, site string, maxLag int64) (DBMember, bool) {
	var best DBMember
	found := false
	for _, mb := range db.Members {
		if mb.Site != site || !mb.Streaming || mb.LagBytes > maxLag || mb.Name == db.Leader {
			continue
		}
		if !found || mb.LagBytes < best.LagBytes || mb.LagBytes == best.LagBytes && mb.Name < best.Name {
			best, found = mb, true
		}
	}
	return best, found
}

// delay is how long after the first node this node acts: 0 if it is the
// first by name among the nodes with a live beat outside site skip ("":
// none skipped), BackupDelay otherwise.
func (m *Machine) delay(o Observation, skip string) time.Duration {
	var nodes []string
	for n, s := range o.Beats {
		if s != skip || skip == "" {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	if len(nodes) > 0 && nodes[0] == m.cfg.Node {
		return 0
	}
	return m.cfg.BackupDelay
}

func hasSite(nodes map[string]string, site string) bool {
	for _, s := range nodes {
		if s == site {
			return true
		}
	}
	return false
}
