// Package purge replicates the edge cache's purges across the cluster: a
// purge received at any node is applied to its cache, recorded in the
// cluster's purge log, and applied by every other node as it follows the
// log, in order. A node that missed purges it can no longer replay (it
// was down past the log's history) drops its whole cache rather than
// serve what they removed. The package owns the purges' wire format: an
// httpcache.Event as JSON.
package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// Timeouts of the replication.
const (
	// CatchUpTimeout bounds the wait at start for the purges other nodes
	// sent while this one was down.
	CatchUpTimeout = 10 * time.Second
	// waitAllTimeout bounds a purge's wait for every node to apply it.
	waitAllTimeout = 10 * time.Second
)

// Log is the cluster's purge log; *cluster.PurgeLog implements it.
type Log interface {
	Publish(ctx context.Context, ev []byte) (int64, error)
	Follow(ctx context.Context, apply func(rev int64, origin string, ev []byte), reset func()) error
	CaughtUp() <-chan struct{}
	WaitApplied(ctx context.Context, rev int64, nodes []string) error
}

// Nodes lists the nodes that are up now (the cluster's view).
type Nodes interface {
	View() cluster.View
}

// Options configure a Replicator.
type Options struct {
	// Cache is this node's cache; nil when it has none (purges are then
	// accepted and change nothing here).
	Cache *httpcache.Cache
	// Log is the cluster's purge log.
	Log Log
	// Nodes is the cluster's view, for purges that wait for every node.
	Nodes Nodes
	// Logger receives the purges; nil discards them.
	Logger *slog.Logger
}

// Replicator applies purges here and replicates them to every node. It
// is the edge's Purger.
type Replicator struct {
	opts Options
	log  *slog.Logger
	// logs tells of purges not recorded for the other nodes at a bounded
	// rate: while the control plane is down (no quorum, a full disk) a
	// CMS may send many.
	logs *telemetry.LogLimiter
}

var _ edge.Purger = (*Replicator)(nil)

// New returns a replicator; Run follows the other nodes' purges.
func New(opts Options) *Replicator {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replicator{opts: opts, log: log, logs: telemetry.NewLogLimiter(log, 0)}
}

// Purge applies ev to this node's cache, records it in the purge log for
// every other node and, when ctx asks for it (edge.WithPurgeWaitAll),
// waits until every live node has applied it. It returns how many
// objects it removed here.
func (r *Replicator) Purge(ctx context.Context, ev httpcache.Event) (int, error) {
	k, err := r.apply(ev)
	if err != nil {
		return 0, err
	}
	r.log.Info("purged", "kind", string(ev.Kind), "url", ev.URL, "tags", ev.Tags, "ban_host", ev.Host, "ban_path", ev.Path, "soft", ev.Soft, "objects", k)
	b, err := json.Marshal(ev)
	if err != nil {
		return k, fmt.Errorf("purge: encode event: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	rev, err := r.opts.Log.Publish(pctx, b)
	if err != nil {
		// The purge holds here; the client is told why it does not
		// everywhere, and retries (purges are idempotent).
		r.logs.Warn("purge applied here, not recorded for the other nodes", "err", err)
		return k, fmt.Errorf("%w: applied here, not recorded for the other nodes: %w", edge.ErrPurgeIncomplete, err)
	}
	if !edge.PurgeWaitAll(ctx) {
		return k, nil
	}
	var nodes []string
	for name := range r.opts.Nodes.View().Nodes {
		nodes = append(nodes, name)
	}
	wctx, cancel := context.WithTimeout(ctx, waitAllTimeout)
	defer cancel()
	if err := r.opts.Log.WaitApplied(wctx, rev, nodes); err != nil {
		return k, fmt.Errorf("purge applied here, not confirmed everywhere: %w", err)
	}
	return k, nil
}

// apply applies ev to this node's cache.
func (r *Replicator) apply(ev httpcache.Event) (int, error) {
	if r.opts.Cache == nil {
		return 0, nil
	}
	k, err := r.opts.Cache.Apply(ev)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	return k, nil
}

// Run applies the other nodes' purges as they come, until ctx ends.
func (r *Replicator) Run(ctx context.Context) error {
	return r.opts.Log.Follow(ctx, r.applyRemote, r.drop)
}

// AwaitCaughtUp returns once the purges this node missed while down are
// applied — its cache (on disk, it survives restarts) may hold objects
// purged meanwhile — or, if they cannot be read within CatchUpTimeout,
// once the cache is dropped instead. Run must be running.
func (r *Replicator) AwaitCaughtUp(ctx context.Context) {
	if r.opts.Cache == nil {
		return
	}
	t := time.NewTimer(CatchUpTimeout)
	defer t.Stop()
	select {
	case <-r.opts.Log.CaughtUp():
	case <-ctx.Done():
	case <-t.C:
		r.log.Warn("purges missed while down not read in time", "waited", CatchUpTimeout.String())
		r.drop()
	}
}

func (r *Replicator) applyRemote(rev int64, origin string, b []byte) {
	if r.opts.Cache == nil {
		return
	}
	var ev httpcache.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		r.log.Error("remote purge not applied: undecodable", "origin", origin, "revision", rev, "err", err)
		return
	}
	k, err := r.opts.Cache.Apply(ev)
	if err != nil {
		r.log.Error("remote purge not applied", "origin", origin, "revision", rev, "err", err)
		return
	}
	r.log.Debug("remote purge applied", "origin", origin, "revision", rev, "kind", string(ev.Kind), "objects", k)
}

// drop empties the cache: the node missed purges it can no longer
// replay, and any stored object might be one of them.
func (r *Replicator) drop() {
	if r.opts.Cache == nil {
		return
	}
	k, err := r.opts.Cache.Apply(httpcache.Event{Kind: httpcache.PurgeAll, Time: time.Now()})
	if err != nil {
		r.log.Error("drop cache after missed purges", "err", err)
		return
	}
	r.log.Warn("dropped the whole cache: purges were missed past the cluster's history", "objects", k)
}
