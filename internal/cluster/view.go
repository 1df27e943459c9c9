package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// View is a snapshot of the cluster's nodes and their app instances. A
// View is never modified once published: its maps and slices are shared
// between snapshots and callers must not change them.
type View struct {
	Nodes    map[string]NodeView // by node name; never nil
	Revision int64               // the etcd revision the view reflects
	// Synced is whether the view is known to be current: false before the
	// first listing, and once the watch has been failing for longer than
	// ViewerOptions.StaleAfter (etcd unreachable or without quorum). The
	// nodes are then the last known ones, not an empty set.
	Synced bool
	// SyncedAt is when the view was last known to be current; zero
	// before the first listing. time.Since(SyncedAt) is how stale it may be.
	SyncedAt time.Time
}

// NodeView is one node in a View.
type NodeView struct {
	Info NodeInfo
	Apps map[string][]InstanceInfo // app -> instances on this node; never nil
}

// DefaultStaleAfter is ViewerOptions.StaleAfter when it is zero.
const DefaultStaleAfter = 3 * time.Second

// ViewerOptions configure a Viewer.
type ViewerOptions struct {
	Client func() *clientv3.Client // required; called at each use, so that parts built before the cluster opens work once it is
	Prefix string                  // the cluster's key prefix, "/tandem/<cluster>/"
	Logger *slog.Logger            // nil discards
	// StaleAfter is how long the view may go without confirmation from
	// etcd before it is marked not Synced. The Viewer asks etcd for a
	// confirmation (a watch progress notification) three times per
	// StaleAfter. Zero means DefaultStaleAfter.
	StaleAfter time.Duration
}

// Viewer maintains a View of the registered nodes from etcd: it lists
// nodes/ and instances/, then watches both from that revision.
type Viewer struct {
	opts    ViewerOptions
	keys    keyspace
	log     *slog.Logger
	logs    *telemetry.LogLimiter // the failures that repeat while etcd is out of reach
	cur     atomic.Pointer[View]
	changes chan struct{} // 1-buffered: coalesced change signals

	mu       sync.Mutex                           // guards the fields below; held only to publish
	nodes    map[string]NodeInfo                  // from nodes/
	apps     map[string]map[string][]InstanceInfo // node -> app -> instances, from instances/
	rev      int64
	synced   bool
	syncedAt time.Time
}

// NewViewer returns a Viewer for opts, holding an empty, unsynced View. It
// starts nothing; Run does.
func NewViewer(opts ViewerOptions) *Viewer {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Viewer{
		opts:    opts,
		keys:    keyspace(opts.Prefix),
		log:     log,
		logs:    telemetry.NewLogLimiter(log, 0),
		changes: make(chan struct{}, 1),
		nodes:   make(map[string]NodeInfo),
		apps:    make(map[string]map[string][]InstanceInfo),
	}
	v.cur.Store(&View{Nodes: map[string]NodeView{}})
	return v
}

// View returns the latest snapshot. It is cheap and safe to call from any
// goroutine.
func (v *Viewer) View() View { return *v.cur.Load() }

// Changes returns a channel that receives a signal after the view has
// changed (nodes, instances or Synced). Signals are coalesced: one
// receive may stand for several changes, so read View after it. The
// channel is shared: it suits one consumer.
func (v *Viewer) Changes() <-chan struct{} { return v.changes }

// Run keeps the view up to date until ctx ends. On a watch failure
// (etcd unreachable, no leader, compaction) it lists again and watches
// from there, with back-off, keeping the last known nodes meanwhile. It
// returns an error only for invalid options.
func (v *Viewer) Run(ctx context.Context) error {
	if v.opts.Client == nil || v.opts.Client() == nil {
		return errors.New("run viewer: no etcd client")
	}
	if _, err := newKeyspace(v.opts.Prefix); err != nil {
		return fmt.Errorf("run viewer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { v.watchdog(ctx) })

	var delay retryDelay
	for {
		rev, err := v.list(ctx)
		if err == nil {
			delay.reset()
			err = v.watch(ctx, rev)
		}
		if ctx.Err() != nil {
			return nil
		}
		v.logs.Warn("cluster view: watch failed; listing again", "err", err)
		if !delay.wait(ctx) {
			return nil
		}
	}
}

// list reads all nodes and instances at one revision and replaces the
// view with them.
func (v *Viewer) list(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := v.opts.Client().Txn(lctx).Then(
		clientv3.OpGet(v.keys.nodes(), clientv3.WithPrefix()),
		clientv3.OpGet(v.keys.instances(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make(map[string]NodeInfo)
	apps := make(map[string]map[string][]InstanceInfo)
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		v.putNode(nodes, kv)
	}
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		v.putInstances(apps, kv)
	}
	rev := resp.Header.Revision
	v.mu.Lock()
	v.nodes, v.apps, v.rev = nodes, apps, rev
	v.synced, v.syncedAt = true, time.Now()
	v.publishLocked(true)
	v.mu.Unlock()
	return rev, nil
}

// watch applies changes after revision rev until the watch fails. It
// asks for progress notifications so that a live but quiet watch keeps
// the view Synced, and requires a leader so that a member that lost
// quorum ends the watch rather than going silent.
func (v *Viewer) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	w := v.opts.Client().Watcher
	nodesCh := w.Watch(wctx, v.keys.nodes(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	instCh := w.Watch(wctx, v.keys.instances(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	probe := time.NewTicker(v.opts.StaleAfter / 3)
	defer probe.Stop()
	for {
		var wr clientv3.WatchResponse
		var ok bool
		select {
		case wr, ok = <-nodesCh:
		case wr, ok = <-instCh:
		case <-probe.C:
			// The answer comes back on the watch channels. A request that
			// cannot be sent (no connection) is not an error of its own:
			// the missing answer lets the view go stale.
			pctx, pcancel := context.WithTimeout(wctx, v.opts.StaleAfter/3)
			_ = w.RequestProgress(pctx)
			pcancel()
			continue
		}
		if !ok {
			return errors.New("watch closed")
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		v.apply(wr)
	}
}

// apply folds one watch response into the view.
func (v *Viewer) apply(wr clientv3.WatchResponse) {
	v.mu.Lock()
	defer v.mu.Unlock()
	changed := len(wr.Events) > 0
	if changed {
		// Copy on write: published views share the old maps.
		v.nodes = maps.Clone(v.nodes)
		v.apps = maps.Clone(v.apps)
	}
	for _, ev := range wr.Events {
		kv := ev.Kv
		if ev.Type == mvccpb.Event_DELETE {
			if name, ok := v.keys.nodeFromKey(string(kv.Key)); ok {
				delete(v.nodes, name)
			} else if node, app, ok := v.keys.instanceFromKey(string(kv.Key)); ok {
				nodeApps := maps.Clone(v.apps[node])
				delete(nodeApps, app)
				if len(nodeApps) == 0 {
					delete(v.apps, node)
				} else {
					v.apps[node] = nodeApps
				}
			}
			continue
		}
		if !v.putNode(v.nodes, kv) {
			v.putInstances(v.apps, kv)
		}
	}
	v.rev = max(v.rev, wr.Header.Revision)
	v.synced, v.syncedAt = true, time.Now()
	v.publishLocked(changed)
}

// putNode stores kv in nodes if it is a node key, and reports whether it
// was one. A value that does not decode is logged and left out.
func (v *Viewer) putNode(nodes map[string]NodeInfo, kv *mvccpb.KeyValue) bool {
	name, ok := v.keys.nodeFromKey(string(kv.Key))
	if !ok {
		return false
	}
	var info NodeInfo
	if err := json.Unmarshal(kv.Value, &info); err != nil {
		v.log.Warn("cluster view: bad node value", "key", string(kv.Key), "err", err)
		delete(nodes, name)
		return true
	}
	nodes[name] = info
	return true
}

// putInstances stores kv in apps if it is an instance key. apps[node] is
// replaced, not changed in place.
func (v *Viewer) putInstances(apps map[string]map[string][]InstanceInfo, kv *mvccpb.KeyValue) {
	node, app, ok := v.keys.instanceFromKey(string(kv.Key))
	if !ok {
		return
	}
	nodeApps := maps.Clone(apps[node])
	if nodeApps == nil {
		nodeApps = make(map[string][]InstanceInfo)
	}
	var instances []InstanceInfo
	if err := json.Unmarshal(kv.Value, &instances); err != nil {
		v.log.Warn("cluster view: bad instances value", "key", string(kv.Key), "err", err)
		delete(nodeApps, app)
	} else {
		nodeApps[app] = instances
	}
	apps[node] = nodeApps
}

// watchdog marks the view not Synced when nothing confirmed it for
// StaleAfter.
func (v *Viewer) watchdog(ctx context.Context) {
	t := time.NewTicker(v.opts.StaleAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			v.mu.Lock()
			if v.synced && now.Sub(v.syncedAt) > v.opts.StaleAfter {
				v.synced = false
				v.publishLocked(true)
				v.log.Warn("cluster view: not synced with etcd; keeping the last known nodes",
					"synced_at", v.syncedAt, "nodes", len(v.nodes))
			}
			v.mu.Unlock()
		}
	}
}

// publishLocked stores a new View built from the fields. When only
// SyncedAt moved (changed is false and Synced is unchanged), the node
// maps of the current view are reused and no change is signalled.
func (v *Viewer) publishLocked(changed bool) {
	old := v.cur.Load()
	next := &View{Nodes: old.Nodes, Revision: v.rev, Synced: v.synced, SyncedAt: v.syncedAt}
	if changed {
		next.Nodes = make(map[string]NodeView, len(v.nodes))
		for name, info := range v.nodes {
			nodeApps := v.apps[name]
			if nodeApps == nil {
				nodeApps = map[string][]InstanceInfo{}
			}
			next.Nodes[name] = NodeView{Info: info, Apps: nodeApps}
		}
	}
	v.cur.Store(next)
	if changed || old.Synced != next.Synced {
		select {
		case v.changes <- struct{}{}:
		default:
		}
	}
}
