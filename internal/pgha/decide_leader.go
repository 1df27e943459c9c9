package pgha

import (
	"fmt"
	"time"
)

// leader decides for the holder of the leader lease.
func (m *Machine) leader(o Observation) []Action {
	if acts, lost := m.leaseCheck(o); lost {
		return acts
	}
	var acts []Action
	if m.so != nil {
		var handled bool
		if acts, handled = m.handOver(o); handled {
			return acts
		}
	}
	switch o.Local.State {
	case PGStandby:
		if o.Local.DiskFull {
			// A promotion writes WAL at once.
			return append(acts, Action{Kind: ActRelease, Reason: diskFullCause + ": it cannot be promoted"})
		}
		return append(acts, m.promote(o)...)
	case PGStopped, PGStarting:
		return append(acts, m.restartInPlace(o)...)
	case PGPrimary:
		m.downSince = time.Time{}
		if !o.Local.DiskFull {
			// Running on a full disk, it may stop again at its next
			// WAL segment: a restart already made counts then.
			m.restarted = false
		}
		return append(acts, m.primary(o)...)
	default: // PGAbsent: nothing to lead with
		return append(acts, Action{Kind: ActRelease, Reason: "no database cluster to lead with"})
	}
}

// promote turns the standby that just took the lease into the primary,
// with synchronous_standby_names set first: strict mode waits for any
// standby ("*") from its first commit on.
func (m *Machine) promote(o Observation) []Action {
	var acts []Action
	want := ""
	if m.cfg.Synchronous && m.strictHere() {
		want = "*"
	}
	if o.Local.SyncNames != want {
		acts = append(acts, setSyncNames(want, "promotion"))
	}
	return append(acts, Action{Kind: ActPromote, Reason: "holds the leader lease"})
}

// diskFullCause is why a member whose data directory's filesystem is
// full gives up the lease.
const diskFullCause = "the data directory's filesystem is full"

// restartInPlace restarts a leader's postgres that stopped (a crash, or a
// bootstrap's first start), and hands the lease over when that takes
// longer than RestartTimeout, or at once when a restart stopped with the
// data directory's filesystem full: no restart in place can write WAL
// until space is freed, and the synchronous standby may take writes now.
func (m *Machine) restartInPlace(o Observation) []Action {
	if m.downSince.IsZero() {
		m.downSince = o.Now
	}
	if o.Local.State == PGStopped && o.Local.DiskFull && m.restarted {
		m.downSince, m.restarted = time.Time{}, false
		return []Action{{Kind: ActRelease, Reason: diskFullCause + ": postgres stopped again after a restart in place"}}
	}
	if o.Now.Sub(m.downSince) >= m.cfg.RestartTimeout {
		why := fmt.Sprintf("postgres did not start as primary within %s", m.cfg.RestartTimeout)
		m.downSince, m.restarted = time.Time{}, false
		var acts []Action
		if o.Local.State == PGStarting {
			acts = append(acts, Action{Kind: ActStop, Immediate: true, Reason: why})
		}
		return append(acts, Action{Kind: ActRelease, Reason: why})
	}
	if o.Local.State == PGStopped {
		m.restarted = true
		return []Action{{Kind: ActStartPrimary, Reason: "leader's postgres is not running"}}
	}
	return nil
}

// primary decides for a running primary that holds its lease.
func (m *Machine) primary(o Observation) []Action {
	v := o.View
	if !v.Fresh {
		return nil // no change is safe to make without the store
	}
	if !v.Init.Done() {
		// The leader lease, not the initialize claim, says who
		// bootstraps: only the claim's holder acquires the lease before
		// the cluster is initialised, but the claim lives under its
		// member lease and lapses when the member stalls longer than
		// TTL, and another member may claim it meanwhile. That one can
		// never lead while this one holds the lease; finishing here
		// makes it clone (its system identifier is not the cluster's).
		return []Action{{Kind: ActFinishBootstrap, Reason: "bootstrap"}}
	}
	var acts []Action
	if want := m.slotNames(); !sameSet(want, o.Local.Slots) {
		acts = append(acts, Action{Kind: ActEnsureSlots, Names: want})
	}
	acts = append(acts, m.manageSync(o)...)
	if l := o.Local; l.CheckpointTimeline != l.Timeline && m.so == nil && m.mayRetry(ActCheckpoint, o.Now) {
		// The promotion's own checkpoint is spread out; pg_rewind from
		// this member needs the new timeline in its control file now.
		return append(acts, Action{Kind: ActCheckpoint, Reason: "checkpoint after promotion"})
	}
	if req := v.Switchover; m.fresh(req, o.Now) && (req.From == m.cfg.Name || req.From == "") {
		acts = append(acts, m.startSwitchover(o, req)...)
	}
	return acts
}

// slotNames are the members that get a replication slot on the primary.
func (m *Machine) slotNames() []string {
	var out []string
	for _, n := range m.cfg.Members {
		if n != m.cfg.Name {
			out = append(out, n)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]bool, len(a))
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// unleasedPrimary decides for a postgres running as primary without the
// lease: it is kept only through the failsafe, and takes the lease again
// when the store shows it free.
func (m *Machine) unleasedPrimary(o Observation) []Action {
	v := o.View
	otherLeader := v.Fresh && v.Leader != "" && v.Leader != m.cfg.Name
	if !otherLeader && m.failsafeHolds(o) {
		m.failsafe = true
		if v.Fresh && v.Leader == "" {
			return []Action{m.acquire(o, "the primary takes its expired lease again (failsafe)")}
		}
		return nil
	}
	why := "running as primary without the leader lease"
	if otherLeader {
		why = fmt.Sprintf("the leader lease is held by %s", v.Leader)
	}
	return m.demote(o, why)
}

// acquire asks for the lease at the sync key's current revision, keeping
// the sync standby only when this member already leads it.
func (m *Machine) acquire(o Observation, why string) Action {
	keep := ""
	if o.View.Sync.Leader == m.cfg.Name {
		keep = o.View.Sync.Standby
	}
	return Action{Kind: ActAcquire, SyncRev: o.View.Sync.Rev, Member: keep, Reason: why}
}

func setSyncNames(name, why string) Action {
	a := Action{Kind: ActSetSyncNames, Reason: why}
	if name != "" {
		a.Names = []string{name}
	}
	return a
}
