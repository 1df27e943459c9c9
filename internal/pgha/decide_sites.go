package pgha

import (
	"cmp"
	"fmt"
)

// The site rules, on when Config.LeaderSite is set: the members live in
// sites (places with their own internet path) and one of them, the
// leader site, normally holds the primary.
//
//   - The synchronous standby is in the primary's site: replication to
//     other sites is asynchronous, so no commit waits for a slow link
//     between sites. With CrossSiteSync it is in another site instead
//     (in the primary's while none streams from another), and no
//     commit is lost to a site's loss.
//   - Leadership leaves a site only through a switchover or an
//     emergency: without one, an asynchronous cluster promotes only a
//     standby in the last primary's site.
//   - Emergency: while the sites' emergency key declares the leader
//     site unreachable (written by nodes that hold the control plane's
//     quorum, never by one site alone), the most advanced standby
//     outside that site may take the free lease although the sync key
//     does not name it. What the old primary had acknowledged and it had
//     not received is lost; the cause it records says how far behind the
//     last primary's published position it was. It does not while any
//     member outside that site still streams: that primary is alive.
//   - The failsafe keeps a primary that lost the store only while its
//     synchronous standby is in another site. A primary whose standby is
//     in its own site and whose site is cut off could otherwise go on
//     beside an emergency leader: it stops before its lease can expire,
//     and is fenced.
//   - A member of the site declared down rewinds once before it follows
//     the emergency leader: it may have WAL past the point where that
//     leader's timeline forked (the synchronous standby of the old
//     primary is ahead of any asynchronous one). pg_rewind finds nothing
//     to do when it has none.
//   - Strict mode waits for no standby while the primary is outside the
//     leader site: an emergency leader's site may have none, and the
//     emergency accepted the loss already.

// sitesOn reports whether the site rules apply.
func (m *Machine) sitesOn() bool { return m.cfg.LeaderSite != "" }

// siteOf is a member's site: this member's from the configuration, the
// others' from their records ("" when unknown).
func (m *Machine) siteOf(name string, v View) string {
	if name == m.cfg.Name {
		return m.cfg.Site
	}
	return v.Members[name].Site
}

// zoneOf is a member's zone: from Config.Zones, else from its record.
func (m *Machine) zoneOf(name string, v View) string {
	if z, ok := m.cfg.Zones[name]; ok {
		return z
	}
	return v.Members[name].Zone
}

// syncRank says whether standby name may be the synchronous standby and
// how good a choice it is (lower is better).
func (m *Machine) syncRank(name string, v View) (int, bool) {
	if !m.sitesOn() {
		return 0, true
	}
	same := m.siteOf(name, v) == m.cfg.Site
	switch {
	case !m.cfg.CrossSiteSync:
		return 0, same
	case same:
		return 1, true
	}
	return 0, true
}

// compareSync orders two candidates for the synchronous standby: site
// rank, then another zone than the primary's, then the most WAL flushed,
// then the name.
func (m *Machine) compareSync(a, b Replica, v View) int {
	ra, _ := m.syncRank(a.Name, v)
	rb, _ := m.syncRank(b.Name, v)
	if c := cmp.Compare(ra, rb); c != 0 {
		return c
	}
	myZone := m.zoneOf(m.cfg.Name, v)
	az, bz := m.zoneOf(a.Name, v) != myZone, m.zoneOf(b.Name, v) != myZone
	if az != bz {
		if az {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.Flush, a.Flush); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// strictHere reports whether strict mode holds for this member as a
// primary: not outside the leader site.
func (m *Machine) strictHere() bool {
	return m.cfg.Strict && (!m.sitesOn() || m.cfg.Site == m.cfg.LeaderSite)
}

// failsafeSiteOK reports whether the site rules let the failsafe keep a
// primary whose synchronous standby is standby.
func (m *Machine) failsafeSiteOK(standby string, v View) bool {
	return !m.sitesOn() || m.siteOf(standby, v) != m.cfg.Site
}

// emergencyEligible reports whether this standby may take the free lease
// under the emergency the view holds, and the cause to record.
func (m *Machine) emergencyEligible(o Observation) (string, bool) {
	e, v := o.View.Emergency, o.View
	if !m.sitesOn() || e == nil || e.Site == m.cfg.Site {
		return "", false
	}
	me, my := m.cfg.Name, o.Local.LSN
	for name, rec := range v.Members {
		if name == me || m.siteOf(name, v) == e.Site {
			continue
		}
		if rec.Streaming {
			return "", false // the primary it streams from is alive
		}
		if rec.State == PGStandby.String() && (rec.LSN > my || rec.LSN == my && name < me) {
			return "", false
		}
	}
	cause := fmt.Sprintf("emergency: site %s unreachable", e.Site)
	if m.lastLeader != "" {
		cause += fmt.Sprintf("; the leader lease of %s expired", m.lastLeader)
		if behind := m.leaderLSN.Sub(my); behind > 0 {
			cause += fmt.Sprintf("; %d bytes of WAL behind its last published position lost", behind)
		} else {
			cause += "; nothing behind its last published position"
		}
	}
	return cause, true
}

// outsideLeaderSite reports whether, without an emergency, this member
// may not be promoted in a failover: it is not in the site of the last
// primary (the leader site when that is unknown).
func (m *Machine) outsideLeaderSite() bool {
	if !m.sitesOn() {
		return false
	}
	site := m.lastLeaderSite
	if site == "" {
		site = m.cfg.LeaderSite
	}
	return m.cfg.Site != site
}

// rewindForEmergency reports whether this member, in the site declared
// down, must rewind before following leader, an emergency leader in
// another site, because it has not yet since leader took over.
func (m *Machine) rewindForEmergency(o Observation, leader string) bool {
	e := o.View.Emergency
	if !m.sitesOn() || e == nil || e.Site != m.cfg.Site || leader == "" || leader == m.cfg.Name {
		return false
	}
	return m.siteOf(leader, o.View) != m.cfg.Site && m.rewoundFor != leader
}
