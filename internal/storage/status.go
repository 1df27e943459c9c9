package storage

import (
	"math"
	"slices"
	"time"
)

// ReplicationStatus is the replicator's state, for status pages and the
// cluster's record of it.
type ReplicationStatus struct {
	Buckets []BucketReplication `json:"buckets"`
	// StoreDown and ReplicaDown are when each stopped answering; zero
	// while it answers.
	StoreDown   time.Time `json:"store_down,omitzero"`
	ReplicaDown time.Time `json:"replica_down,omitzero"`
	// Resyncing is the running re-sync's reason; "" when none runs.
	Resyncing  string        `json:"resyncing,omitempty"`
	LastResync *ResyncReport `json:"last_resync,omitempty"`
	NextResync time.Time     `json:"next_resync,omitzero"`
}

// BucketReplication is the replication of one app's bucket.
type BucketReplication struct {
	App     string `json:"app"`
	Bucket  string `json:"bucket"`
	Replica string `json:"replica"`
	// Objects is how many copies the replica holds.
	Objects int `json:"objects"`
	// Pending is how many changes of the store are not in the replica
	// yet; Lag is the age of the oldest of them: the replica is that far
	// behind. 0 when it is up to date.
	Pending int           `json:"pending"`
	Lag     time.Duration `json:"lag"`
	// LagP50, LagP99 and LagMax are of the last changes replicated (up to
	// lagWindowSize): from the change to its copy.
	LagP50   time.Duration `json:"lag_p50"`
	LagP99   time.Duration `json:"lag_p99"`
	LagMax   time.Duration `json:"lag_max"`
	Copied   uint64        `json:"copied"`
	Deleted  uint64        `json:"deleted"`
	Failed   uint64        `json:"failed"`
	LastPoll time.Time     `json:"last_poll,omitzero"`
	// LastError is the last poll's failure; "" once a poll went through.
	LastError string `json:"last_error,omitempty"`
}

// ResyncReport is what a re-sync found and did.
type ResyncReport struct {
	Reason   string    `json:"reason"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Checked objects were read in full on both sides; Bytes counts what
	// was read.
	Checked int   `json:"checked"`
	Bytes   int64 `json:"bytes"`
	// Missing objects were in the store only; Extra in the replica only;
	// Stale had an older version in the replica.
	Missing int `json:"missing"`
	Extra   int `json:"extra"`
	Stale   int `json:"stale"`
	// DamagedReplica and DamagedStore are copies of the same version
	// whose bytes differ, and which side's checksum showed damaged.
	DamagedReplica int `json:"damaged_replica"`
	DamagedStore   int `json:"damaged_store"`
	// Unresolved objects differ and neither side could be trusted; they
	// are left as they are.
	Unresolved int `json:"unresolved"`
	// Repaired of the above were made right; Failed could not be.
	Repaired int `json:"repaired"`
	Failed   int `json:"failed"`
	// Err is why the re-sync did not check everything; "" if it did.
	Err string `json:"error,omitempty"`
}

// Differences is how many objects the re-sync found not in sync.
func (r ResyncReport) Differences() int {
	return r.Missing + r.Extra + r.Stale + r.DamagedReplica + r.DamagedStore + r.Unresolved
}

// Status returns the replicator's state.
func (r *Replicator) Status() ReplicationStatus {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ReplicationStatus{StoreDown: r.storeDown, ReplicaDown: r.replicaDown, Resyncing: r.resyncing, NextResync: r.nextResync}
	if r.lastResync != nil {
		rep := *r.lastResync
		st.LastResync = &rep
	}
	for _, b := range r.buckets {
		s := b.status
		s.Pending = len(b.pending)
		for _, since := range b.pending {
			s.Lag = max(s.Lag, now.Sub(since))
		}
		s.LagP50, s.LagP99, s.LagMax = b.lags.percentiles()
		st.Buckets = append(st.Buckets, s)
	}
	return st
}

// lagWindowSize is how many recent lags a bucket keeps.
const lagWindowSize = 1024

// lagWindow keeps the last lagWindowSize lags. The zero value is ready.
type lagWindow struct {
	lags []time.Duration
	next int
}

func (w *lagWindow) add(d time.Duration) {
	if len(w.lags) < lagWindowSize {
		w.lags = append(w.lags, d)
		return
	}
	w.lags[w.next] = d
	w.next = (w.next + 1) % lagWindowSize
}

// percentiles returns the median, 99th percentile and maximum (nearest
// rank); zeros when empty.
func (w *lagWindow) percentiles() (p50, p99, maxLag time.Duration) {
	if len(w.lags) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(w.lags)
	slices.Sort(s)
	rank := func(p float64) time.Duration { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	return rank(0.50), rank(0.99), s[len(s)-1]
}
