package pgha

import "time"

// MemberRecord is what a member publishes about itself in the store, under
// a lease its node renews: a member whose node is gone disappears.
type MemberRecord struct {
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
	Site string `json:"site,omitempty"`
	// Addr is where the member's PostgreSQL is reached (host:port).
	Addr     string `json:"addr"`
	State    string `json:"state"` // a PGState's String
	SysID    uint64 `json:"sysid,omitempty,string"`
	Timeline uint32 `json:"timeline,omitempty"`
	// CheckpointTimeline is a primary's latest checkpoint's timeline.
	CheckpointTimeline uint32 `json:"checkpoint_timeline,omitempty"`
	LSN                LSN    `json:"lsn"`
	Replay             LSN    `json:"replay_lsn"`
	// Upstream and Streaming describe a standby.
	Upstream  string `json:"upstream,omitempty"`
	Streaming bool   `json:"streaming,omitempty"`
	// Replicas are a primary's standbys.
	Replicas []Replica `json:"replicas,omitempty"`
	// Activity is a long action in progress ("clone", "rewind", ...).
	Activity string `json:"activity,omitempty"`
	// DiskFull: the member's data directory's filesystem is full.
	DiskFull bool      `json:"disk_full,omitempty"`
	Updated  time.Time `json:"updated"`
}

// running reports whether the record shows a PostgreSQL answering queries.
func (r MemberRecord) running() bool {
	return r.State == PGPrimary.String() || r.State == PGStandby.String()
}
