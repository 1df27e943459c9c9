package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// DefaultPurgeRetention is PurgeLogOptions.Retention when it is zero.
const DefaultPurgeRetention = time.Hour

// PurgeLogOptions configure a PurgeLog.
type PurgeLogOptions struct {
	Client func() *clientv3.Client // required; called at each use, so that parts built before the cluster opens work once it is
	Prefix string                  // the cluster's key prefix, "/tandem/<cluster>/"
	Node   string                  // this node's name; required
	// CursorFile is where Follow keeps the revision it has applied up to,
	// so that a restarted node replays exactly what it missed. Required
	// for Follow.
	CursorFile string
	// Retention is how long a published event stays in etcd's key space
	// (at least; see Publish). Zero means DefaultPurgeRetention.
	Retention time.Duration
	Logger    *slog.Logger // nil discards
}

// PurgeLog replicates purges accepted at any node to every node, in one
// order: etcd's revision order. Publish appends an event, Follow applies
// the events of the other nodes, and WaitApplied waits for nodes to have
// applied an event.
type PurgeLog struct {
	opts      PurgeLogOptions
	keys      keyspace
	log       *slog.Logger
	logs      *telemetry.LogLimiter // the failures that repeat while etcd or the disk is out of reach
	idBase    string                // makes event keys unique across restarts of this node
	seq       atomic.Uint64         // numbers events published by this process
	following atomic.Bool           // Follow is running
	caughtUp  chan struct{}         // closed once Follow has applied what was missed
	caughtMu  sync.Once             // closes caughtUp

	mu         sync.Mutex       // guards the fields below
	lease      clientv3.LeaseID // the lease published events are attached to now
	leaseUntil time.Time        // when to stop attaching events to lease
}

// purgeRecord is the value of a purges/ key.
type purgeRecord struct {
	Origin string `json:"origin"`
	Event  []byte `json:"event"`
}

// NewPurgeLog returns a PurgeLog for opts. It starts nothing.
func NewPurgeLog(opts PurgeLogOptions) *PurgeLog {
	if opts.Retention <= 0 {
		opts.Retention = DefaultPurgeRetention
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PurgeLog{
		caughtUp: make(chan struct{}),
		opts:     opts,
		keys:     keyspace(opts.Prefix),
		log:      log.With("node", opts.Node),
		logs:     telemetry.NewLogLimiter(log.With("node", opts.Node), 0),
		idBase:   fmt.Sprintf("%016x", time.Now().UnixNano()),
	}
}

func (p *PurgeLog) check() error {
	if p.opts.Client == nil || p.opts.Client() == nil {
		return errors.New("no etcd client")
	}
	if _, err := newKeyspace(p.opts.Prefix); err != nil {
		return err
	}
	return checkNodeName(p.opts.Node)
}

// Publish appends ev, a purge this node has already applied, to the log
// and returns the revision it was stored at: the position to pass to
// WaitApplied. The other nodes' Follow applies it; this node's skips it.
//
// Events are removed from etcd's key space by lease expiry rather than by
// a trimming job: expiry needs no node to be elected to trim, and works
// while the publishing node is down. Events published within one
// Retention/8 share one lease of Retention plus that window, so a burst
// of purges costs one lease, not one each; an event thus stays between
// Retention and 9/8 Retention. Followers do not depend on the keys being
// there: they replay etcd's history, which compaction, not expiry, limits.
//
// An error that says etcd did not answer or refused the write (no quorum,
// DataDir below its floor) matches ErrUnavailable.
func (p *PurgeLog) Publish(ctx context.Context, ev []byte) (int64, error) {
	rev, err := p.publish(ctx, ev)
	return rev, unavailable(err)
}

func (p *PurgeLog) publish(ctx context.Context, ev []byte) (int64, error) {
	if err := p.check(); err != nil {
		return 0, fmt.Errorf("publish purge: %w", err)
	}
	val, err := json.Marshal(purgeRecord{Origin: p.opts.Node, Event: ev})
	if err != nil {
		return 0, fmt.Errorf("publish purge: %w", err)
	}
	key := p.keys.purge(p.opts.Node, fmt.Sprintf("%s-%08x", p.idBase, p.seq.Add(1)))
	for attempt := 0; ; attempt++ {
		lease, err := p.retentionLease(ctx)
		if err != nil {
			return 0, fmt.Errorf("publish purge: %w", err)
		}
		resp, err := p.opts.Client().Put(ctx, key, string(val), clientv3.WithLease(lease))
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			p.dropLease(lease) // revoked or expired early: take a new one
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("publish purge: put %s: %w", key, err)
		}
		return resp.Header.Revision, nil
	}
}

// retentionLease returns the lease to attach a new event to, granting a
// new one when the current one has been used for its window.
func (p *PurgeLog) retentionLease(ctx context.Context) (clientv3.LeaseID, error) {
	window := max(p.opts.Retention/8, time.Second)
	now := time.Now()
	p.mu.Lock()
	id, until := p.lease, p.leaseUntil
	p.mu.Unlock()
	if id != clientv3.NoLease && now.Before(until) {
		return id, nil
	}
	resp, err := p.opts.Client().Grant(ctx, ttlSeconds(p.opts.Retention+window))
	if err != nil {
		return 0, fmt.Errorf("grant retention lease: %w", err)
	}
	p.mu.Lock()
	p.lease, p.leaseUntil = resp.ID, now.Add(window)
	p.mu.Unlock()
	return resp.ID, nil
}

// dropLease forgets lease id if it is still the current one.
func (p *PurgeLog) dropLease(id clientv3.LeaseID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lease == id {
		p.lease = clientv3.NoLease
	}
}

// CaughtUp is closed once Follow has applied every event published before
// it started (the purges a restarted node missed), or has reset the cache
// instead. A node serves cached objects only after it: until then one of
// them may be a purged one.
func (p *PurgeLog) CaughtUp() <-chan struct{} { return p.caughtUp }

func (p *PurgeLog) markCaughtUp() { p.caughtMu.Do(func() { close(p.caughtUp) }) }

func (p *PurgeLog) caughtUpClosed() bool {
	select {
	case <-p.caughtUp:
		return true
	default:
		return false
	}
}
