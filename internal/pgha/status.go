package pgha

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

// The kinds of Event.
const (
	// EventBootstrap: a member created the cluster and leads it.
	EventBootstrap EventKind = "bootstrap"
	// EventFailover: a member took the lease of a primary that failed.
	EventFailover EventKind = "failover"
	// EventSwitchover: a member took over in a planned switchover.
	EventSwitchover EventKind = "switchover"
	// EventDemoted: this member stopped being primary.
	EventDemoted EventKind = "demoted"
	// EventEmergency: a member of a follower site took the lease while
	// the leader site was declared unreachable.
	EventEmergency EventKind = "emergency"
	// EventFailsafe: this member keeps running as primary without the
	// store, through its synchronous standby (Cause says), or stopped
	// needing to.
	EventFailsafe EventKind = "failsafe"
)

// Event is a change of who leads the cluster, seen by this member.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	Member string    `json:"member"`         // the new leader, or the member demoted
	From   string    `json:"from,omitempty"` // the previous leader, when known
	Cause  string    `json:"cause"`
}

// Status is a member's view of the cluster, for `tandem db status`.
type Status struct {
	Name   string `json:"name"`
	Zone   string `json:"zone,omitempty"`
	Site   string `json:"site,omitempty"`
	Role   string `json:"role"` // a PGState
	Leader string `json:"leader"`
	// LeaderCause is why the leader took the lease.
	LeaderCause string `json:"leader_cause,omitempty"`
	// SyncStandby is the standby the sync key names.
	SyncStandby    string         `json:"sync_standby,omitempty"`
	Synchronous    bool           `json:"synchronous"`
	Failsafe       bool           `json:"failsafe,omitempty"`
	StoreReachable bool           `json:"store_reachable"`
	Members        []MemberStatus `json:"members"`
	// Emergency is the emergency the sites declared, as the store last
	// showed it; nil when none.
	Emergency *Emergency `json:"emergency,omitempty"`
	// Error is the last action that failed, if the member is stuck on it.
	Error string `json:"error,omitempty"`
	// DiskFull says, naming the path and the bytes free, that this
	// member's data directory's filesystem is full; "" when it is not.
	DiskFull string `json:"disk_full,omitempty"`
}

// MemberStatus is one member as published in the store.
type MemberStatus struct {
	Name      string  `json:"name"`
	Zone      string  `json:"zone,omitempty"`
	Site      string  `json:"site,omitempty"`
	Addr      string  `json:"addr"`
	Role      string  `json:"role"`
	Leader    bool    `json:"leader"`
	Timeline  uint32  `json:"timeline"`
	LSN       LSN     `json:"lsn"`
	ReplayLSN LSN     `json:"replay_lsn"`
	LagBytes  int64   `json:"lag_bytes"`
	LagSecs   float64 `json:"lag_seconds"`
	// Sync is the standby's sync_state on the primary ("sync", "async",
	// "potential"), "" for the primary and for members not streaming.
	Sync      string `json:"sync,omitempty"`
	Streaming bool   `json:"streaming,omitempty"`
	Activity  string `json:"activity,omitempty"`
	Reachable bool   `json:"reachable"` // its record is live in the store
	// DiskFull: its data directory's filesystem is full (it neither
	// leads nor starts until there is room).
	DiskFull bool `json:"disk_full,omitempty"`
}

// buildStatus assembles a Status from a view and this member's state.
func buildStatus(name string, where place, sync bool, local Local, v View, fresh, failsafe bool) Status {
	st := Status{
		Name: name, Zone: where.zone, Site: where.site, Role: local.State.String(), Leader: v.Leader, LeaderCause: v.LeaderCause,
		SyncStandby: v.Sync.Standby, Synchronous: sync, Failsafe: failsafe, StoreReachable: fresh, Emergency: v.Emergency,
	}
	lead, hasLead := v.Members[v.Leader]
	for _, rec := range v.Members {
		ms := MemberStatus{
			Name: rec.Name, Zone: rec.Zone, Site: rec.Site, Addr: rec.Addr, Role: rec.State, Leader: rec.Name == v.Leader,
			Timeline: rec.Timeline, LSN: rec.LSN, ReplayLSN: rec.Replay, Streaming: rec.Streaming,
			Activity: rec.Activity, Reachable: true, DiskFull: rec.DiskFull,
		}
		if hasLead && rec.Name != v.Leader {
			if rec.Replay != 0 { // a member stopped or starting has replayed nothing yet: no lag to tell
				ms.LagBytes = lead.LSN.Sub(rec.Replay)
			}
			for _, r := range lead.Replicas {
				if r.Name == rec.Name {
					ms.LagSecs, ms.Sync = r.LagSecs, r.SyncState
				}
			}
		}
		st.Members = append(st.Members, ms)
	}
	slices.SortFunc(st.Members, func(a, b MemberStatus) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// place is where a node is: its zone and its site.
type place struct{ zone, site string }

// Routes are where the DB endpoint sends connections.
type Routes struct {
	// Primary is the leader's address (host:port) while its record shows
	// it running as primary; "" while there is none (failing over).
	Primary string
	// Standby is the nearest streaming standby's address: in this
	// node's zone first, then in its site, then the least behind; "" if
	// none streams.
	Standby string
	// Site is where a follower site's instances that serve reads
	// (apps.X.sites.S.reads: local) send their connections: the primary
	// when it runs in this node's site (an emergency, or the leader
	// site), else Standby (in this site first), else the primary. A
	// standby refuses writes by itself; promoted in place, the same
	// connections may write.
	Site string
}

// routesOf computes Routes from a view, for a node at where. addrs are the
// members' last published addresses.
//
// Without a leader key, a primary kept by the failsafe (it lost the store;
// its synchronous standby still streams from it and so does not take the
// lease) is still the primary: the sync key names it, and its standby's
// record says it streams from it.
func routesOf(v View, where place, addrs map[string]string) Routes {
	var r Routes
	if lead, ok := v.Members[v.Leader]; ok && lead.State == PGPrimary.String() {
		r.Primary = lead.Addr
	} else if sk := v.Sync; v.Leader == "" && sk.Leader != "" && sk.Standby != "" {
		if s, ok := v.Members[sk.Standby]; ok && s.Streaming && s.Upstream == sk.Leader {
			r.Primary = addrs[sk.Leader]
		}
	}
	var best *MemberRecord
	for _, rec := range v.Members {
		if rec.State != PGStandby.String() || !rec.Streaming || rec.Name == v.Leader {
			continue
		}
		if best == nil || betterStandby(rec, *best, where) {
			best = &rec
		}
	}
	if best != nil {
		r.Standby = best.Addr
	}
	r.Site = r.Standby
	if lead, ok := v.Members[v.Leader]; r.Standby == "" || (ok && r.Primary == lead.Addr && where.site != "" && lead.Site == where.site) {
		r.Site = r.Primary
	}
	return r
}

func betterStandby(a, b MemberRecord, where place) bool {
	if (a.Zone == where.zone) != (b.Zone == where.zone) {
		return a.Zone == where.zone
	}
	if where.site != "" && (a.Site == where.site) != (b.Site == where.site) {
		return a.Site == where.site
	}
	if a.Replay != b.Replay {
		return a.Replay > b.Replay
	}
	return strings.Compare(a.Name, b.Name) < 0
}
