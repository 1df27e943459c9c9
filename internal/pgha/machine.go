package pgha

import (
	"errors"
	"fmt"
	"time"
)

// PGState is what a member's PostgreSQL is doing, as observed.
type PGState int

// The states of a member's PostgreSQL.
const (
	// PGAbsent: the data directory holds no database cluster yet.
	PGAbsent PGState = iota
	// PGStopped: a database cluster exists and no postgres runs on it.
	PGStopped
	// PGStarting: postgres runs but does not answer queries yet (start,
	// crash recovery, shutdown).
	PGStarting
	// PGPrimary: postgres answers and is not in recovery.
	PGPrimary
	// PGStandby: postgres answers and is in recovery.
	PGStandby
)

func (s PGState) String() string {
	switch s {
	case PGAbsent:
		return "absent"
	case PGStopped:
		return "stopped"
	case PGStarting:
		return "starting"
	case PGPrimary:
		return "primary"
	case PGStandby:
		return "standby"
	}
	return fmt.Sprintf("PGState(%d)", int(s))
}

// Local is this member's PostgreSQL as observed at one moment.
type Local struct {
	State PGState
	// SysID is the database system identifier; 0 while PGAbsent.
	SysID uint64
	// WasPrimary is set while the data directory last ran as a primary and
	// has not been rewound or cloned since: its WAL may hold records no
	// other member has, so it must be rewound before it follows another.
	WasPrimary bool
	Timeline   uint32
	// CheckpointTimeline is a primary's latest checkpoint's timeline: after
	// a promotion it lags until a checkpoint, and pg_rewind from this
	// member must wait for it.
	CheckpointTimeline uint32
	// LSN is how far this member's WAL goes: a primary's flush location, a
	// standby's received (or, if greater, replayed) location.
	LSN       LSN
	ReplayLSN LSN
	// CheckpointLSN is the latest checkpoint's location while stopped.
	CheckpointLSN LSN
	// Upstream is the member a standby is configured to follow; "" for none.
	Upstream string
	// Streaming: a standby's WAL receiver streams from its upstream.
	Streaming bool
	// Replicas are the standbys streaming from a primary.
	Replicas []Replica
	// SyncNames is synchronous_standby_names as tandem last set it: "",
	// "*" or one member name.
	SyncNames string
	// Slots are the replication slots tandem manages on a primary, by
	// member name.
	Slots []string
	// DiskFull: the data directory's filesystem has too little free
	// space for PostgreSQL to start a new WAL segment. Such a member
	// neither leads nor starts until space returns.
	DiskFull bool
}

// Replica is one row of a primary's pg_stat_replication.
type Replica struct {
	Name      string `json:"name"`                 // the standby's application_name: its member name
	Streaming bool   `json:"streaming"`            // state is "streaming"
	SyncState string `json:"sync_state,omitempty"` // sync_state: "sync", "async", "potential"
	Sync      bool   `json:"-"`                    // SyncState is "sync"
	Flush     LSN    `json:"flush_lsn"`            // what the standby has flushed
	Replay    LSN    `json:"replay_lsn"`
	// ReplyTime is when the standby sent its last reply (its clock); a
	// value that changes shows the standby is alive.
	ReplyTime time.Time `json:"reply_time"`
	LagSecs   float64   `json:"lag_seconds"` // replay_lag
}

// View is the coordination store as last read.
type View struct {
	// Fresh: the read succeeded recently; the other fields are the last
	// read's either way.
	Fresh bool
	Init  InitKey
	// Leader is the member holding the leader lease; "" when free.
	Leader string
	// LeaderCause is why Leader took the lease, as it recorded.
	LeaderCause string
	Sync        SyncKey
	// Members are the members' published records, by name; a member whose
	// node stopped renewing its record is absent.
	Members    map[string]MemberRecord
	Switchover *SwitchoverRequest
	// Emergency is the emergency the sites declared against the leader
	// site, nil when none: a follower site's member may then take the
	// lease although it is not the synchronous standby.
	Emergency *Emergency
}

// Emergency is the record the sites keep while the leader site is
// declared unreachable (the cluster's emergency key). Only nodes that
// hold the control plane's quorum write it.
type Emergency struct {
	// Site is the leader site declared unreachable.
	Site string `json:"site"`
	// Since is when it was declared; By is the node that declared it.
	Since time.Time `json:"since"`
	By    string    `json:"by,omitempty"`
	// Cause says why, for status and the alert.
	Cause string `json:"cause,omitempty"`
}

// InitKey says who bootstraps the cluster and, once done, its system
// identifier.
type InitKey struct {
	Holder string // "" when nobody claimed it
	SysID  uint64 // set once the bootstrap is done
}

// Done reports whether the cluster was bootstrapped.
func (k InitKey) Done() bool { return k.SysID != 0 }

// SyncKey records which standby is synchronous: in synchronous mode it is
// the only member besides Leader that may be promoted, since it has every
// commit Leader acknowledged.
type SyncKey struct {
	Leader  string
	Standby string // "" when no standby is synchronous
	Rev     int64  // the key's revision in the store, for compare-and-swap; 0 if absent
}

// SwitchoverRequest asks the primary From to hand over to To ("": the
// best standby).
type SwitchoverRequest struct {
	ID    string    `json:"id"`
	From  string    `json:"from"`
	To    string    `json:"to,omitempty"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // set when the primary refused
}

// Lease is the state of this member's leader lease.
type Lease struct {
	Held bool
	// RenewSent is when the last successful grant or renewal was sent: the
	// lease cannot expire before RenewSent + TTL.
	RenewSent time.Time
	// Lost: the store said the lease no longer exists.
	Lost bool
}

// Observation is everything the Machine decides on, taken at Now.
type Observation struct {
	Now   time.Time
	Local Local
	View  View
	Lease Lease
	// Busy is the long action still running (initdb, clone, rewind,
	// checkpoint), 0 if none.
	Busy ActionKind
	// Done are the long actions that ended since the last Step.
	Done []Result
}

// Result is how a long action ended.
type Result struct {
	Kind ActionKind
	Err  error
}

// ErrBadMachineConfig is returned by NewMachine for an impossible Config.
var ErrBadMachineConfig = errors.New("invalid failover config")

// Config describes the cluster to a Machine.
type Config struct {
	Name    string   // this member
	Members []string // every member, this one included
	// Zones maps member names to their zones: a synchronous standby in
	// another zone than the primary is preferred. A member not in it has
	// the zone its record publishes.
	Zones map[string]string
	// Site is this member's site and LeaderSite the site that normally
	// leads; LeaderSite "" turns the site rules off (see decide_sites.go).
	Site, LeaderSite string
	// CrossSiteSync makes a standby in another site than the primary's
	// the synchronous one; otherwise it is one in the primary's site and
	// replication to other sites is asynchronous.
	CrossSiteSync bool
	Synchronous   bool
	Strict        bool // synchronous mode never degrades to asynchronous
	TTL           time.Duration
	// Margin is how long before its lease can expire a primary that cannot
	// renew it stops accepting writes; TTL/3 if 0.
	Margin time.Duration
	// ReplyWindow is how recently the synchronous standby must have
	// replied for the failsafe to keep a primary that lost the store; TTL
	// if 0.
	ReplyWindow time.Duration
	// RestartTimeout bounds an in-place restart of a crashed primary
	// before it hands the lease over; 2 × TTL if 0.
	RestartTimeout time.Duration
	// StallTimeout is how long a standby may fail to stream from a running
	// primary before it is rewound; 30s if 0.
	StallTimeout time.Duration
	// MaxLag is how far behind the last primary (bytes) an asynchronous
	// standby may be and still be promoted; 1 MiB if 0.
	MaxLag int64
	// SwitchoverTimeout bounds a switchover: a request older than it is
	// ignored, a primary that stopped for one starts again; 30s if 0.
	SwitchoverTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("%w: no member name", ErrBadMachineConfig)
	}
	if c.TTL <= 0 {
		return c, fmt.Errorf("%w: ttl %s <= 0", ErrBadMachineConfig, c.TTL)
	}
	if c.Margin == 0 {
		c.Margin = c.TTL / 3
	}
	if c.Margin <= 0 || c.Margin >= c.TTL {
		return c, fmt.Errorf("%w: margin %s not within (0, ttl %s)", ErrBadMachineConfig, c.Margin, c.TTL)
	}
	if c.ReplyWindow <= 0 {
		c.ReplyWindow = c.TTL
	}
	if c.RestartTimeout <= 0 {
		c.RestartTimeout = 2 * c.TTL
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 1 << 20
	}
	if c.SwitchoverTimeout <= 0 {
		c.SwitchoverTimeout = 30 * time.Second
	}
	return c, nil
}
