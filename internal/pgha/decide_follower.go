package pgha

import (
	"fmt"
	"time"
)

// follower decides for a member that does not hold the lease and does not
// run as a primary.
func (m *Machine) follower(o Observation) []Action {
	v, l := o.View, o.Local
	if l.DiskFull && (l.State == PGStopped || l.State == PGAbsent) {
		// A standby could not write the WAL it receives, a clone not
		// copy; the driver looks at the free space every cycle.
		return nil
	}
	if !v.Fresh {
		// Nothing new is decided without the store. A stopped member
		// starts as a standby of the leader it knew, to serve reads.
		if l.State == PGStopped {
			up := m.lastLeader
			if l.WasPrimary || m.forceRewind {
				up = ""
			}
			return []Action{{Kind: ActStartStandby, Member: up, Reason: "store unreachable"}}
		}
		return nil
	}
	if !v.Init.Done() {
		return m.bootstrap(o)
	}
	if l.State != PGAbsent && l.SysID != 0 && l.SysID != v.Init.SysID {
		if l.State == PGStopped {
			return m.clone(o, fmt.Sprintf("system identifier %d is not the cluster's %d", l.SysID, v.Init.SysID))
		}
		if l.State != PGStarting {
			return []Action{{Kind: ActStop, Reason: "system identifier differs from the cluster's"}}
		}
		return nil
	}
	switch l.State {
	case PGAbsent:
		return m.clone(o, "no data directory")
	case PGStopped:
		return m.startFollower(o)
	case PGStandby:
		return m.standby(o)
	}
	return nil // PGStarting: wait
}

// bootstrap decides before the cluster was initialised: one member wins
// the initialize key and runs initdb (or adopts the data it has); the
// others wait, then clone.
func (m *Machine) bootstrap(o Observation) []Action {
	v, l := o.View, o.Local
	switch v.Init.Holder {
	case "":
		return []Action{{Kind: ActClaimInit, Reason: "the cluster is not initialised"}}
	case m.cfg.Name:
	default:
		return nil // another member bootstraps
	}
	switch l.State {
	case PGAbsent:
		if m.mayRetry(ActInitdb, o.Now) {
			return []Action{{Kind: ActInitdb, Reason: "bootstrap"}}
		}
	case PGStopped, PGStandby:
		if v.Leader == "" {
			return []Action{{Kind: ActAcquire, SyncRev: v.Sync.Rev, Reason: "bootstrap"}}
		}
	}
	return nil
}

// clone replaces the data directory with a base backup of the running
// leader.
func (m *Machine) clone(o Observation, why string) []Action {
	if !m.leaderRunning(o) || !m.mayRetry(ActClone, o.Now) {
		return nil
	}
	return []Action{{Kind: ActClone, Member: o.View.Leader, Reason: why}}
}

// leaderRunning reports whether the store shows a leader whose record says
// it runs as a primary.
func (m *Machine) leaderRunning(o Observation) bool {
	l := o.View.Leader
	if l == "" || l == m.cfg.Name {
		return false
	}
	rec, ok := o.View.Members[l]
	return ok && rec.State == PGPrimary.String()
}

// startFollower starts a stopped member as a standby: of the leader, after
// a rewind when its WAL may have diverged; of nobody when there is no
// leader, so that it replays its WAL and may be promoted.
func (m *Machine) startFollower(o Observation) []Action {
	needRewind := o.Local.WasPrimary || m.forceRewind
	if leader := o.View.Leader; m.rewindForEmergency(o, leader) {
		needRewind, m.forceRewind, m.rewoundFor = true, true, leader
	}
	if !m.leaderRunning(o) {
		if o.View.Leader != "" && o.View.Leader != m.cfg.Name && !needRewind {
			return []Action{{Kind: ActStartStandby, Member: o.View.Leader, Reason: "follow the leader"}}
		}
		return []Action{{Kind: ActStartStandby, Reason: "no running leader"}}
	}
	leader := o.View.Leader
	if !needRewind {
		return []Action{{Kind: ActStartStandby, Member: leader, Reason: "follow the leader"}}
	}
	if m.rewindFailed {
		return m.clone(o, "rewind failed")
	}
	if rec := o.View.Members[leader]; !m.mayRetry(ActRewind, o.Now) || rec.CheckpointTimeline != rec.Timeline {
		return nil // pg_rewind reads the source's timeline from its last checkpoint
	}
	why := "its WAL may hold records the leader lacks"
	if m.forceRewind {
		why = "it could not stream from the leader"
	}
	return []Action{{Kind: ActRewind, Member: leader, Reason: why}}
}

// standby decides for a running standby: follow the leader, or take the
// lease when it is free and this member may.
func (m *Machine) standby(o Observation) []Action {
	v, l := o.View, o.Local
	leader := v.Leader
	if leader == "" || leader == m.cfg.Name {
		m.stallSince = time.Time{}
		if why, ok := m.eligible(o); ok {
			return []Action{m.acquire(o, why)}
		}
		return nil
	}
	if l.WasPrimary {
		return []Action{{Kind: ActStop, Reason: fmt.Sprintf("rewind before following %s", leader)}}
	}
	if m.rewindForEmergency(o, leader) {
		m.forceRewind, m.rewoundFor = true, leader
		return []Action{{Kind: ActStop, Reason: fmt.Sprintf("rewind before following %s, promoted in an emergency of this site", leader)}}
	}
	if l.Upstream != leader {
		return []Action{{Kind: ActFollow, Member: leader, Reason: "new leader"}}
	}
	// A standby still on an older timeline than the leader's is not
	// following it, even while its WAL receiver keeps connecting (it
	// reports "streaming" between its attempts).
	lt := o.View.Members[leader].Timeline
	onTimeline := l.Timeline == 0 || lt == 0 || l.Timeline >= lt
	if l.Streaming && onTimeline || !m.leaderRunning(o) {
		m.stallSince = time.Time{}
		return nil
	}
	if m.stallSince.IsZero() {
		m.stallSince = o.Now
	}
	if o.Now.Sub(m.stallSince) < m.cfg.StallTimeout {
		return nil
	}
	m.forceRewind, m.stallSince = true, time.Time{}
	return []Action{{Kind: ActStop, Reason: fmt.Sprintf("not streaming from %s for %s", leader, m.cfg.StallTimeout)}}
}

// eligible reports whether this standby may take the free lease, and why.
func (m *Machine) eligible(o Observation) (string, bool) {
	me, v := m.cfg.Name, o.View
	if o.Local.DiskFull {
		return "", false // a promotion writes WAL at once
	}
	if o.Local.Streaming {
		// The primary it follows is alive (and, in synchronous mode, may
		// be kept by the failsafe): only a primary that stopped sending
		// is replaced.
		return "", false
	}
	cause := "failover"
	if m.lastLeader != "" {
		cause = fmt.Sprintf("failover: the leader lease of %s expired", m.lastLeader)
	}
	req := v.Switchover
	if m.fresh(req, o.Now) {
		if req.From == me || (req.To != "" && req.To != me) {
			return "", false
		}
		cause = fmt.Sprintf("switchover from %s", req.From)
	}
	if m.cfg.Synchronous && v.Sync.Rev != 0 && (v.Sync.Standby == me || v.Sync.Leader == me) {
		return cause, true
	}
	if why, ok := m.emergencyEligible(o); ok && (req == nil || !m.fresh(req, o.Now)) {
		return why, true
	}
	if m.cfg.Synchronous && v.Sync.Rev != 0 {
		return "", false
	}
	if m.outsideLeaderSite() && !m.fresh(req, o.Now) {
		return "", false // leadership leaves the site by a switchover or an emergency only
	}
	return cause, m.mostAdvanced(o)
}

// mostAdvanced reports whether no other healthy standby (in this site,
// with sites) has more WAL than this one (ties go to the lower name) and
// this one is within MaxLag of the last leader.
func (m *Machine) mostAdvanced(o Observation) bool {
	me, my := m.cfg.Name, o.Local.LSN
	for name, rec := range o.View.Members {
		if name == me || rec.State != PGStandby.String() {
			continue
		}
		if m.sitesOn() && m.siteOf(name, o.View) != m.cfg.Site {
			continue // not a candidate without a switchover or an emergency
		}
		if rec.LSN > my || (rec.LSN == my && name < me) {
			return false
		}
	}
	return m.leaderLSN.Sub(my) <= m.cfg.MaxLag
}
