package pgha

import (
	"fmt"
	"slices"
	"time"
)

// manageSync keeps one synchronous standby (synchronous mode) or none
// (asynchronous mode), changing the sync key and synchronous_standby_names
// in an order that never lets the key name a standby that may lack an
// acknowledged commit:
//   - a standby leaves the key first, then the setting;
//   - a standby enters the setting first, then the key, once
//     pg_stat_replication shows it synchronous and it has flushed what the
//     primary had flushed when it was first seen synchronous.
func (m *Machine) manageSync(o Observation) []Action {
	if !m.cfg.Synchronous {
		if o.Local.SyncNames != "" {
			return []Action{setSyncNames("", "asynchronous mode")}
		}
		return nil
	}
	key := o.View.Sync
	if key.Leader != m.cfg.Name {
		return nil // the key this member wrote when it took the lease is not visible yet
	}
	cur := key.Standby
	pick := m.pickSync(o, cur)
	if pick == cur {
		m.pending = pendingSync{}
		want := cur
		if want == "" && m.strictHere() {
			want = "*"
		}
		if o.Local.SyncNames != want {
			return []Action{setSyncNames(want, "synchronous standby "+describeSync(want))}
		}
		return nil
	}
	if cur != "" {
		return []Action{{Kind: ActWriteSync, SyncRev: key.Rev,
			Reason: fmt.Sprintf("%s no longer streams", cur)}}
	}
	if o.Local.SyncNames != pick {
		m.pending = pendingSync{}
		return []Action{setSyncNames(pick, pick+" streams")}
	}
	r, ok := replicaOf(o.Local, pick)
	if !ok || !r.Streaming || !r.Sync {
		return nil
	}
	if m.pending.name != pick {
		m.pending = pendingSync{name: pick, lsn: o.Local.LSN}
	}
	if r.Flush < m.pending.lsn {
		return nil
	}
	return []Action{{Kind: ActWriteSync, Member: pick, SyncRev: key.Rev,
		Reason: fmt.Sprintf("%s is synchronous and has flushed %s", pick, m.pending.lsn)}}
}

func describeSync(name string) string {
	if name == "" {
		return "none"
	}
	return name
}

// pickSync chooses the synchronous standby: the current one while it
// streams and may still be; otherwise the best streaming member by
// compareSync (its site, another zone than the primary's, the most WAL
// flushed). Strict mode keeps the current one when no other streams.
func (m *Machine) pickSync(o Observation, cur string) string {
	if cur != "" {
		_, ok := m.syncRank(cur, o.View)
		if r, streams := replicaOf(o.Local, cur); streams && r.Streaming && ok {
			return cur
		}
	}
	var cands []Replica
	for _, r := range o.Local.Replicas {
		if _, ok := m.syncRank(r.Name, o.View); ok && r.Streaming && r.Name != m.cfg.Name && slices.Contains(m.cfg.Members, r.Name) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		if m.strictHere() {
			return cur
		}
		return ""
	}
	slices.SortFunc(cands, func(a, b Replica) int { return m.compareSync(a, b, o.View) })
	return cands[0].Name
}

// startSwitchover begins handing the lease to the request's target:
// checkpoint first (writes go on), then a fast shutdown (its walsenders
// wait until the standbys have flushed the shutdown checkpoint), then
// the release.
func (m *Machine) startSwitchover(o Observation, req *SwitchoverRequest) []Action {
	target, why := m.switchoverTarget(o, req)
	if why != "" {
		return []Action{{Kind: ActSwitchoverFail, Reason: why}}
	}
	if m.so != nil && m.so.id == req.ID {
		return nil
	}
	m.so = &switchoverProgress{id: req.ID, target: target, since: o.Now}
	return []Action{{Kind: ActCheckpoint, Reason: "switchover to " + target}}
}

// switchoverTarget returns the member to hand over to, or why there is none.
func (m *Machine) switchoverTarget(o Observation, req *SwitchoverRequest) (string, string) {
	target := req.To
	if target == m.cfg.Name {
		return "", fmt.Sprintf("%s is the primary already", target)
	}
	if target == "" {
		if m.cfg.Synchronous {
			target = o.View.Sync.Standby
		} else if c := m.pickSync(o, ""); c != "" {
			target = c
		}
		if target == "" {
			return "", "no standby may take over"
		}
	}
	if !slices.Contains(m.cfg.Members, target) {
		return "", fmt.Sprintf("%s is not a member", target)
	}
	r, ok := replicaOf(o.Local, target)
	if !ok || !r.Streaming {
		return "", fmt.Sprintf("%s does not stream from the primary", target)
	}
	// A target that is not the synchronous standby (another site's, in a
	// failback) must be nearly caught up: writes wait while it catches
	// up on what remains.
	if (!m.cfg.Synchronous || o.View.Sync.Standby != target) && o.Local.LSN.Sub(r.Flush) > m.cfg.MaxLag {
		return "", fmt.Sprintf("%s is %d bytes behind", target, o.Local.LSN.Sub(r.Flush))
	}
	return target, ""
}

// handOver continues a switchover: stop once the checkpoint ran, then
// release the lease once the target has received the shutdown checkpoint.
// handled is false when the switchover was abandoned and the leader's
// usual rules apply again.
func (m *Machine) handOver(o Observation) (acts []Action, handled bool) {
	so := m.so
	if o.Now.Sub(so.since) >= m.cfg.SwitchoverTimeout {
		m.so = nil
		return []Action{{Kind: ActSwitchoverFail, Reason: fmt.Sprintf("%s did not catch up within %s", so.target, m.cfg.SwitchoverTimeout)}}, false
	}
	if !so.checkpointed {
		return nil, o.Local.State != PGPrimary // checkpoint still running is seen as Busy
	}
	switch o.Local.State {
	case PGPrimary:
		return []Action{{Kind: ActStop, Reason: "switchover to " + so.target}}, true
	case PGStarting:
		return nil, true
	}
	rec, ok := o.View.Members[so.target]
	if !o.View.Fresh || !ok || rec.LSN <= o.Local.CheckpointLSN {
		return nil, true // wait for the target to show it has the shutdown checkpoint
	}
	if key := o.View.Sync; m.cfg.Synchronous && key.Standby != so.target {
		// The target has every commit (this primary stopped, and it has
		// the shutdown checkpoint): name it, so that it may take over.
		if o.Now.Sub(so.named) < time.Second {
			return nil, true // asked already; wait to see the key
		}
		so.named = o.Now
		return []Action{{Kind: ActWriteSync, Member: so.target, SyncRev: key.Rev,
			Reason: fmt.Sprintf("switchover: %s has the shutdown checkpoint", so.target)}}, true
	}
	m.so = nil
	return []Action{
		{Kind: ActMarkFollower, Reason: "handed over cleanly"},
		{Kind: ActRelease, Reason: "switchover to " + so.target},
	}, true
}
