package pgha

import (
	"fmt"
	"time"
)

// Machine decides, for one member, what its PostgreSQL and its leader
// lease should do next. It is a pure state machine in the style of
// etcd-io/raft: Step takes an Observation (which carries the time) and
// returns Actions; it never blocks, sleeps, reads a clock or does I/O, so
// every decision is tested by feeding observations. It is not safe for
// concurrent use.
//
// The rules, in short:
//   - Only the holder of the leader lease runs as a primary. A primary
//     that cannot show its lease is still held stops (immediately) before
//     the lease can expire: at RenewSent + TTL - Margin.
//   - Failsafe (synchronous mode): a primary whose store is unreachable
//     but whose synchronous standby still streams and replies keeps
//     running, since no commit can be acknowledged without that standby,
//     and the standby stops confirming the moment it is promoted.
//   - A standby takes the lease only when it is free and, in synchronous
//     mode, the sync key names it (or it was the leader the key names); in
//     asynchronous mode only the most advanced healthy standby within
//     MaxLag of the last primary does.
//   - The sync key and synchronous_standby_names change in Patroni's
//     order: a standby leaves the key before it leaves the setting, and
//     enters the key only after the setting named it, pg_stat_replication
//     shows it synchronous, and it has flushed everything the primary had
//     flushed by then.
type Machine struct {
	cfg Config

	downSince time.Time // when the leader's postgres was first seen down
	// restarted: a start as primary was asked for since downSince.
	restarted bool
	pending   pendingSync // a standby being brought into the sync key
	// replies remembers, per standby, its last reply time and when (by
	// this member's clock) it changed.
	replies    map[string]reply
	lastLeader string // the last leader seen in the store
	leaderLSN  LSN    // the highest LSN lastLeader published
	// lastLeaderSite is the site lastLeader's record gave.
	lastLeaderSite string
	// rewindFailed: the last rewind failed, so the next attempt clones.
	rewindFailed bool
	// forceRewind: the standby stalled while following a running primary,
	// or must rewind before following an emergency leader.
	forceRewind bool
	// rewoundFor is the emergency leader this member was last rewound
	// to follow (see rewindForEmergency).
	rewoundFor string
	stallSince time.Time
	so         *switchoverProgress
	retryAt    map[ActionKind]time.Time // back-off after a failed long action
	failures   map[ActionKind]int
	failsafe   bool // the failsafe keeps this primary running
}

type pendingSync struct {
	name string
	lsn  LSN // the primary's flush location when name was first seen synchronous
}

type reply struct {
	value  time.Time
	seenAt time.Time
}

// switchoverProgress is a switchover this member hands over in.
type switchoverProgress struct {
	id           string
	target       string
	checkpointed bool // the checkpoint before the stop ran
	since        time.Time
	// named is when the sync key was last asked to name the target (a
	// switchover to a standby that was not the synchronous one).
	named time.Time
}

// NewMachine checks cfg and returns a Machine.
func NewMachine(cfg Config) (*Machine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Machine{cfg: c, replies: make(map[string]reply), retryAt: make(map[ActionKind]time.Time), failures: make(map[ActionKind]int)}, nil
}

// Config returns the machine's configuration with its defaults.
func (m *Machine) Config() Config { return m.cfg }

// Failsafe reports whether the last Step kept this member primary through
// the failsafe (store unreachable, synchronous standby streaming).
func (m *Machine) Failsafe() bool { return m.failsafe }

// Deadline returns when a leader must have renewed its lease, given the
// lease state: the driver ticks the machine then.
func (m *Machine) Deadline(l Lease) (time.Time, bool) {
	if !l.Held {
		return time.Time{}, false
	}
	return l.RenewSent.Add(m.cfg.TTL - m.cfg.Margin), true
}

// Step feeds one observation and returns what to do.
func (m *Machine) Step(o Observation) []Action {
	m.absorb(o)
	if o.Busy != 0 {
		// A long action runs; only the lease may call for something now.
		if o.Lease.Held {
			if acts, lost := m.leaseCheck(o); lost {
				return acts
			}
		}
		return nil
	}
	switch {
	case o.Lease.Held:
		return m.leader(o)
	case o.Local.State == PGPrimary:
		return m.unleasedPrimary(o)
	default:
		m.failsafe = false
		return m.follower(o)
	}
}

// absorb updates the machine's memory from an observation.
func (m *Machine) absorb(o Observation) {
	for _, r := range o.Local.Replicas {
		if p, ok := m.replies[r.Name]; !ok || !p.value.Equal(r.ReplyTime) {
			m.replies[r.Name] = reply{value: r.ReplyTime, seenAt: o.Now}
		}
	}
	if l := o.View.Leader; o.View.Fresh && l != "" && l != m.cfg.Name {
		if l != m.lastLeader {
			m.leaderLSN = 0
		}
		m.lastLeader = l
		if rec, ok := o.View.Members[l]; ok {
			m.leaderLSN = max(m.leaderLSN, rec.LSN)
			if rec.Site != "" {
				m.lastLeaderSite = rec.Site
			}
		}
	}
	for _, r := range o.Done {
		if r.Err != nil {
			m.failures[r.Kind]++
			backoff := min(time.Second<<min(m.failures[r.Kind]-1, 5), 30*time.Second)
			m.retryAt[r.Kind] = o.Now.Add(backoff)
			if r.Kind == ActRewind {
				m.rewindFailed = true
			}
			if r.Kind == ActCheckpoint && m.so != nil {
				m.so = nil // the switchover fails below, when the request is seen again
			}
			continue
		}
		delete(m.failures, r.Kind)
		delete(m.retryAt, r.Kind)
		switch r.Kind {
		case ActRewind, ActClone:
			m.rewindFailed, m.forceRewind, m.stallSince = false, false, time.Time{}
		case ActCheckpoint:
			if m.so != nil {
				m.so.checkpointed = true
			}
		}
	}
}

// mayRetry reports whether a long action of kind may start again.
func (m *Machine) mayRetry(kind ActionKind, now time.Time) bool {
	at, ok := m.retryAt[kind]
	return !ok || !now.Before(at)
}

// leaseCheck returns the actions for a lease that is lost or in doubt,
// and whether it is.
func (m *Machine) leaseCheck(o Observation) ([]Action, bool) {
	me := m.cfg.Name
	if o.View.Fresh && o.View.Leader != "" && o.View.Leader != me {
		return m.demote(o, fmt.Sprintf("the leader lease is held by %s", o.View.Leader)), true
	}
	deadline, _ := m.Deadline(o.Lease)
	if !o.Lease.Lost && o.Now.Before(deadline) {
		m.failsafe = false
		return nil, false
	}
	if o.Local.State == PGPrimary && m.failsafeHolds(o) {
		m.failsafe = true
		if o.Lease.Lost {
			// Re-taken in unleasedPrimary once the store shows it free.
			return []Action{{Kind: ActForgetLease, Reason: "leader lease expired; failsafe keeps the primary"}}, true
		}
		return nil, true
	}
	why := fmt.Sprintf("leader lease not renewed since %s", o.Lease.RenewSent.Format(time.RFC3339Nano))
	if o.Lease.Lost {
		why = "leader lease expired"
	}
	return m.demote(o, why), true
}

// demote gives up the lease and stops a running primary at once.
func (m *Machine) demote(o Observation, why string) []Action {
	m.failsafe, m.so, m.pending, m.downSince, m.restarted = false, nil, pendingSync{}, time.Time{}, false
	acts := []Action{{Kind: ActForgetLease, Reason: why}}
	if o.Local.State == PGPrimary || o.Local.State == PGStarting {
		acts = append(acts, Action{Kind: ActStop, Immediate: true, Reason: why})
	}
	return acts
}

// failsafeHolds reports whether the synchronous standby named in the sync
// key streams, replied within ReplyWindow, and is what the primary waits
// for: then no commit can be acknowledged without it.
func (m *Machine) failsafeHolds(o Observation) bool {
	key := o.View.Sync
	if !m.cfg.Synchronous || key.Leader != m.cfg.Name || key.Standby == "" || o.Local.SyncNames != key.Standby {
		return false
	}
	if !m.failsafeSiteOK(key.Standby, o.View) {
		return false
	}
	r, ok := replicaOf(o.Local, key.Standby)
	if !ok || !r.Streaming || !r.Sync {
		return false
	}
	p, ok := m.replies[key.Standby]
	return ok && o.Now.Sub(p.seenAt) < m.cfg.ReplyWindow
}

func replicaOf(l Local, name string) (Replica, bool) {
	for _, r := range l.Replicas {
		if r.Name == name {
			return r, true
		}
	}
	return Replica{}, false
}

// fresh reports whether a switchover request is recent enough to act on.
func (m *Machine) fresh(req *SwitchoverRequest, now time.Time) bool {
	return req != nil && req.Error == "" && now.Sub(req.At) < m.cfg.SwitchoverTimeout
}
