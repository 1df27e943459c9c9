package pgha

import (
	"fmt"
	"strings"
)

// ActionKind says what the driver must do.
type ActionKind int

// The actions of a Machine. Those marked long run in the background; the
// driver reports their end with a Result in a later Observation.
const (
	// ActClaimInit: claim the right to bootstrap the cluster (the
	// initialize key), with this member's system identifier if it has data.
	ActClaimInit ActionKind = iota + 1
	// ActInitdb (long): create the database cluster.
	ActInitdb
	// ActFinishBootstrap: create the roles with the cluster's credentials
	// and record the system identifier in the initialize key.
	ActFinishBootstrap
	// ActClone (long): replace the data directory by a base backup of
	// Member (moving an existing one aside).
	ActClone
	// ActRewind (long): pg_rewind the stopped data directory from Member.
	ActRewind
	// ActStartPrimary: start postgres as a primary.
	ActStartPrimary
	// ActStartStandby: start postgres as a standby of Member ("": of none,
	// replaying its own WAL).
	ActStartStandby
	// ActFollow: make the running standby follow Member.
	ActFollow
	// ActPromote: promote the standby.
	ActPromote
	// ActStop: stop postgres; Immediate stops it at once (no checkpoint,
	// every connection dropped), otherwise a fast shutdown with a checkpoint.
	ActStop
	// ActCheckpoint (long): run a checkpoint, so that a stop after it is quick.
	ActCheckpoint
	// ActAcquire: take the leader lease if it is free, with the sync key
	// at revision SyncRev (synchronous mode), recording Reason as the cause.
	ActAcquire
	// ActRelease: give up the leader lease (delete the key, revoke it).
	ActRelease
	// ActForgetLease: stop renewing the leader lease, which is lost or
	// cannot be shown to be held; revoke it if the store still answers.
	ActForgetLease
	// ActSetSyncNames: set synchronous_standby_names to Names and reload.
	ActSetSyncNames
	// ActWriteSync: write the sync key naming Member ("" for none) if it is
	// still at revision SyncRev and this member still holds the lease.
	ActWriteSync
	// ActEnsureSlots: create a physical replication slot for each of
	// Names and drop tandem's slots of other members.
	ActEnsureSlots
	// ActSwitchoverFail: answer the switchover request with Reason.
	ActSwitchoverFail
	// ActMarkFollower: record that the stopped data directory may follow
	// another member without a rewind (it handed over cleanly).
	ActMarkFollower
)

var actionNames = map[ActionKind]string{
	ActClaimInit: "claim-init", ActInitdb: "initdb", ActFinishBootstrap: "finish-bootstrap",
	ActClone: "clone", ActRewind: "rewind", ActStartPrimary: "start-primary",
	ActStartStandby: "start-standby", ActFollow: "follow", ActPromote: "promote",
	ActStop: "stop", ActCheckpoint: "checkpoint", ActAcquire: "acquire", ActRelease: "release",
	ActForgetLease: "forget-lease", ActSetSyncNames: "set-sync-names", ActWriteSync: "write-sync",
	ActEnsureSlots: "ensure-slots", ActSwitchoverFail: "switchover-fail", ActMarkFollower: "mark-follower",
}

func (k ActionKind) String() string {
	if n, ok := actionNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// long reports whether the action runs in the background.
func (k ActionKind) long() bool {
	switch k {
	case ActInitdb, ActClone, ActRewind, ActCheckpoint:
		return true
	}
	return false
}

// Action is one thing the driver must do.
type Action struct {
	Kind ActionKind
	// Member is the member acted on: the source of ActClone and ActRewind,
	// the upstream of ActStartStandby and ActFollow, the standby of
	// ActWriteSync, the synchronous standby ActAcquire keeps in the key.
	Member    string
	Names     []string // ActEnsureSlots; ActSetSyncNames has one or none
	Immediate bool     // ActStop
	SyncRev   int64    // ActAcquire, ActWriteSync
	// Reason says why, for the log, the events and the leader key.
	Reason string
}

// String writes an action compactly, as the tests compare them:
// "promote", "start-standby a", "write-sync b@3", "stop immediate".
func (a Action) String() string {
	var b strings.Builder
	b.WriteString(a.Kind.String())
	switch a.Kind {
	case ActClone, ActRewind, ActStartStandby, ActFollow:
		if a.Member != "" {
			b.WriteString(" " + a.Member)
		}
	case ActWriteSync:
		fmt.Fprintf(&b, " %s@%d", a.Member, a.SyncRev)
	case ActAcquire:
		fmt.Fprintf(&b, " @%d", a.SyncRev)
		if a.Member != "" {
			b.WriteString(" keep " + a.Member)
		}
	case ActSetSyncNames, ActEnsureSlots:
		b.WriteString(" [" + strings.Join(a.Names, ",") + "]")
	case ActStop:
		if a.Immediate {
			b.WriteString(" immediate")
		}
	}
	return b.String()
}

// writesStore reports whether k's only effect is a write to the store.
func (k ActionKind) writesStore() bool {
	switch k {
	case ActClaimInit, ActFinishBootstrap, ActWriteSync, ActSwitchoverFail:
		return true
	}
	return false
}
