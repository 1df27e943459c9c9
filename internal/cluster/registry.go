package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// NodeInfo is what a node publishes about itself under nodes/<name>.
type NodeInfo struct {
	Name     string    `json:"name"`
	Zone     string    `json:"zone,omitempty"`
	Site     string    `json:"site,omitempty"`
	Version  string    `json:"version,omitempty"`
	NodeAddr string    `json:"node_addr,omitempty"` // node-to-node address
	Edge     string    `json:"edge,omitempty"`      // the edge listener's address
	Admin    string    `json:"admin,omitempty"`     // the admin API's address
	Started  time.Time `json:"started"`
}

// Instance states published in InstanceInfo.State.
const (
	InstanceHealthy   = "healthy"
	InstanceUnhealthy = "unhealthy"
	InstanceStarting  = "starting"
	InstanceDraining  = "draining"
)

// InstanceInfo is one running instance of an app on a node.
type InstanceInfo struct {
	Name    string `json:"name"`
	Release string `json:"release,omitempty"`
	State   string `json:"state"` // one of the Instance* states
}

// DefaultRegistryTTL is the lease TTL of a node's registration when
// RegistryOptions.TTL is zero.
const DefaultRegistryTTL = 10 * time.Second

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	Client func() *clientv3.Client // required; called at each use, so that parts built before the cluster opens work once it is
	Prefix string                  // the cluster's key prefix, "/tandem/<cluster>/"
	Self   NodeInfo                // this node; Self.Name is required
	// TTL is how long the node stays registered after it stops renewing
	// its lease (it crashed or lost etcd). Zero means DefaultRegistryTTL.
	TTL    time.Duration
	Logger *slog.Logger // nil discards
}

// Registry keeps this node registered in the cluster: its NodeInfo under
// nodes/<name> and its app instances under instances/<name>/<app>, all
// under one lease that Run keeps alive.
type Registry struct {
	opts RegistryOptions
	keys keyspace
	log  *slog.Logger
	logs *telemetry.LogLimiter // the failures that repeat while etcd is out of reach
	wake chan struct{}         // 1-buffered: SetApp tells Run there is something to write
	// keep makes the end of Run leave the registration to its lease (see
	// Keep).
	keep atomic.Bool

	mu   sync.Mutex                // guards apps
	apps map[string][]InstanceInfo // app -> this node's instances, as last set
}

// NewRegistry returns a Registry for opts. It starts nothing; Run does.
func NewRegistry(opts RegistryOptions) *Registry {
	if opts.TTL <= 0 {
		opts.TTL = DefaultRegistryTTL
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		opts: opts,
		keys: keyspace(opts.Prefix),
		log:  log.With("node", opts.Self.Name),
		logs: telemetry.NewLogLimiter(log.With("node", opts.Self.Name), 0),
		wake: make(chan struct{}, 1),
		apps: make(map[string][]InstanceInfo),
	}
}

// SetApp publishes this node's instances of app, replacing the previous
// list; an empty list removes the app from this node. It never blocks:
// Run writes the latest list, and skips the write when it did not change.
func (r *Registry) SetApp(app string, instances []InstanceInfo) {
	r.mu.Lock()
	if len(instances) == 0 {
		delete(r.apps, app)
	} else {
		r.apps[app] = append([]InstanceInfo(nil), instances...)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // Run already has a wake-up pending; it reads the latest list
	}
}

// Keep makes Run, when its context ends, leave the node registered until
// its lease expires (the TTL) rather than revoke it: the node is handing
// over to a new binary of tandem (an upgrade), which registers again, under
// a lease of its own, within moments. Meanwhile the other nodes keep
// sending it requests, which wait in its node listener's backlog.
func (r *Registry) Keep() { r.keep.Store(true) }

// Run registers the node and keeps it registered until ctx ends, then
// revokes the lease (waiting a bounded time; see Keep) so that the node
// leaves the cluster's view at once. When the lease is lost — etcd lost quorum or
// was unreachable for longer than the TTL — Run registers again under a
// new lease, with back-off. It returns an error only for invalid options.
func (r *Registry) Run(ctx context.Context) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("run registry: %w", err)
	}
	var delay retryDelay
	for {
		start := time.Now()
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > r.opts.TTL {
			delay.reset() // the last registration held; this is a new failure
		}
		r.logs.Warn("node registration lost; registering again", "err", err)
		if !delay.wait(ctx) {
			return nil
		}
	}
}

func (r *Registry) check() error {
	if r.opts.Client == nil || r.opts.Client() == nil {
		return errors.New("no etcd client")
	}
	if _, err := newKeyspace(r.opts.Prefix); err != nil {
		return err
	}
	return checkNodeName(r.opts.Self.Name)
}

// errLeaseLost ends a session whose lease is no longer renewed.
var errLeaseLost = errors.New("lease lost")

// session registers under one new lease and keeps it until the lease is
// lost or ctx ends.
func (r *Registry) session(ctx context.Context) error {
	id, err := r.grant(ctx)
	if err != nil {
		return err
	}
	// The keep-alive ends with the session, not with ctx: when ctx ends,
	// its channel closing must not be taken for a lost lease (which
	// skips the revoke).
	kaCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	ka, err := r.opts.Client().KeepAlive(kaCtx, id)
	if err != nil {
		return fmt.Errorf("keep lease %x alive: %w", id, err)
	}
	if err := r.putNode(ctx, id); err != nil {
		return err
	}
	r.log.Info("node registered", "lease", fmt.Sprintf("%x", id))
	written := make(map[string][]byte) // app -> value stored under this lease
	dirty := true                      // the apps may differ from written
	var retry <-chan time.Time
	var delay retryDelay
	for {
		if dirty {
			err := r.writeApps(ctx, id, written)
			switch {
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				return fmt.Errorf("write instances: %w", err)
			case err != nil && ctx.Err() == nil:
				r.logs.Warn("write instances failed; retrying", "err", err)
				retry = time.After(delay.step())
			case err == nil:
				dirty, retry = false, nil
				delay.reset()
			}
		}
		select {
		case <-ctx.Done():
			if !r.keep.Load() {
				r.revoke(ctx, id)
			}
			return ctx.Err()
		case _, ok := <-ka:
			if !ok {
				return fmt.Errorf("lease %x: %w", id, errLeaseLost)
			}
		case <-r.wake:
			dirty = true
		case <-retry:
			dirty = true
		}
	}
}

// grant returns a new lease of the registry's TTL.
func (r *Registry) grant(ctx context.Context) (clientv3.LeaseID, error) {
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := r.opts.Client().Grant(gctx, ttlSeconds(r.opts.TTL))
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	return resp.ID, nil
}

// putNode writes the node's NodeInfo under lease id.
func (r *Registry) putNode(ctx context.Context, id clientv3.LeaseID) error {
	val, err := json.Marshal(r.opts.Self)
	if err != nil {
		return fmt.Errorf("encode node info: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := r.keys.node(r.opts.Self.Name)
	if _, err := r.opts.Client().Put(pctx, key, string(val), clientv3.WithLease(id)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeApps brings the instance keys under lease id in line with the
// apps last set: it puts what changed and deletes apps that were removed.
// written records what is stored, and is updated as writes succeed.
func (r *Registry) writeApps(ctx context.Context, id clientv3.LeaseID, written map[string][]byte) error {
	r.mu.Lock()
	apps := maps.Clone(r.apps) // the slices are never modified in place
	r.mu.Unlock()
	for app, instances := range apps {
		val, err := json.Marshal(instances)
		if err != nil {
			return fmt.Errorf("encode instances of %s: %w", app, err)
		}
		if old, ok := written[app]; ok && bytes.Equal(old, val) {
			continue
		}
		key := r.keys.instance(r.opts.Self.Name, app)
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err = r.opts.Client().Put(pctx, key, string(val), clientv3.WithLease(id))
		cancel()
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		written[app] = val
	}
	for app := range written {
		if _, ok := apps[app]; ok {
			continue
		}
		key := r.keys.instance(r.opts.Self.Name, app)
		dctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := r.opts.Client().Delete(dctx, key)
		cancel()
		if err != nil {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		delete(written, app)
	}
	return nil
}

// revoke ends lease id when the node stops, so that it leaves the view at
// once rather than after the TTL. It waits a bounded time: an unreachable
// etcd lets the lease expire instead.
func (r *Registry) revoke(ctx context.Context, id clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if _, err := r.opts.Client().Revoke(rctx, id); err != nil {
		r.log.Warn("revoke registration lease failed; it will expire", "lease", fmt.Sprintf("%x", id), "err", err)
	}
}

// ttlSeconds rounds a TTL up to whole seconds, the unit of etcd leases.
func ttlSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
