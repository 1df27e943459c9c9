package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/storage"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// This file wires the stack's storage section: the embedded store (a
// supervised process of this binary) or an external one, the apps'
// buckets and their environment, the readers behind storage routes, and
// the replication, which one node of the cluster runs under a lock.

// replicationLock is the cluster lock the node replicating holds.
const replicationLock = "storage-replication"

// replicationRetry is how often a node that does not replicate tries to
// take the lock.
const replicationRetry = 5 * time.Second

// ensureTimeout bounds the check of the buckets at start.
const ensureTimeout = 30 * time.Second

// storagePart is the node's storage; nil when the stack has none.
type storagePart struct {
	st       *config.Storage
	node     string
	log      *slog.Logger
	storage  *storage.Storage
	embedded *storage.EmbeddedOptions // nil when the store is external
	// readers serve the storage routes, by app.
	readers map[string]*storage.PublicReader
	repl    *storage.Replicator // nil without a replica
	metrics *telemetry.Replication

	// running is the embedded store once start has started it; nil
	// before, and for an external store. The admin API reads it.
	running atomic.Pointer[storage.Embedded]
}

// errEmbeddedJoin refuses an embedded store on a node joining a cluster:
// each node would run a store of its own, and the apps on different nodes
// would not see the same bucket.
var errEmbeddedJoin = errors.New("storage.store: a node joining a cluster cannot use the embedded store, which lives on one node's disk: give storage.store.s3, a store every node reaches")

// checkStorage refuses what the stack file's checks cannot see: an
// embedded store on a node that joins a cluster.
func checkStorage(st *config.Stack, join string) error {
	if join != "" && st.Storage != nil && st.Storage.Store.Embedded != nil {
		return errEmbeddedJoin
	}
	return nil
}

// buildStorage builds the storage part from the stack file. It starts
// nothing; the embedded store's credentials are read, or made on the
// first start.
func (n *Node) buildStorage() error {
	st := n.st.Storage
	if st == nil {
		return nil
	}
	sp := &storagePart{st: st, node: n.st.Cluster.Node, log: n.log.With("part", "storage"), readers: make(map[string]*storage.PublicReader)}
	store, err := sp.storeEndpoint(n)
	if err != nil {
		return err
	}
	replica := replicaEndpoint(st.Replica)
	o := storage.Options{Store: store, Replica: replica, Logger: sp.log}
	for _, app := range st.AppNames {
		b := st.Apps[app]
		o.Buckets = append(o.Buckets, storage.Bucket{App: app, Name: b.Bucket, Replica: b.ReplicaBucket, PublicURL: publicURL(n.st, app)})
	}
	if sp.storage, err = storage.New(o); err != nil {
		return err
	}
	site := n.st.Cluster.Site
	for _, r := range n.st.Edge.Routes {
		if r.Storage == "" || sp.readers[r.Storage] != nil {
			continue
		}
		reader, err := storage.NewPublicReader(storage.PublicOptions{
			Pair: sp.storage.Pair(r.Storage), Store: store, Replica: replica,
			ReplicaFirst: replica != nil && st.Replica.Site == site && st.Store.Site != site,
			Pool: n.tracedPool(balance.Options{App: storageUpstream(r.Storage), UpstreamTimeout: time.Duration(n.st.Edge.Timeouts.Upstream),
				Logger: n.log.With("part", "balance", "upstream", storageUpstream(r.Storage))}),
		})
		if err != nil {
			return err
		}
		sp.readers[r.Storage] = reader
	}
	if replica != nil {
		if sp.repl, err = sp.replicator(n); err != nil {
			return err
		}
	}
	n.storage = sp
	return nil
}

// storeEndpoint is the store the apps' buckets are in: the embedded one
// (its options kept for start) or an external one.
func (sp *storagePart) storeEndpoint(n *Node) (storage.Endpoint, error) {
	st := sp.st
	if st.Store.S3 != nil {
		e := s3Endpoint("storage.store.s3", st.Store.S3)
		e.Site = st.Store.Site
		return e, nil
	}
	emb := st.Store.Embedded
	stateDir := filepath.Join(n.st.Cluster.DataDir, "storage") // not below dir: versitygw refuses metadata inside its root
	access, secret := emb.AccessKey, emb.SecretKey
	if access == "" {
		var err error
		if access, secret, err = storage.EmbeddedCredentials(stateDir); err != nil {
			return storage.Endpoint{}, err
		}
	}
	binary := n.opts.Keeper
	if binary == "" {
		var err error
		if binary, err = os.Executable(); err != nil {
			return storage.Endpoint{}, fmt.Errorf("embedded store: the tandem binary: %w", err)
		}
	}
	sp.embedded = &storage.EmbeddedOptions{
		Binary:   binary,
		Gateway:  storage.GatewayOptions{Listen: emb.Listen, Dir: emb.Dir, Region: "us-east-1", Access: access, Secret: secret},
		StateDir: stateDir,
		Env:      n.opts.Environ,
		Logger:   sp.log,
	}
	return storage.Endpoint{Field: "storage.store.embedded", URL: "http://" + dialAddr(emb.Listen), PathStyle: true,
		AccessKey: access, SecretKey: secret, Site: st.Store.Site}, nil
}

// dialAddr is where a listen address is reached on this node: loopback
// for an unspecified host.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func s3Endpoint(field string, s *config.S3Store) storage.Endpoint {
	return storage.Endpoint{Field: field, URL: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle, CAFile: s.CA,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey}
}

func replicaEndpoint(r *config.ReplicaStore) *storage.Endpoint {
	if r == nil {
		return nil
	}
	e := s3Endpoint("storage.replica.s3", r.S3)
	e.Site = r.Site
	return &e
}

// publicURL is where the first storage route of app serves its bucket:
// the route's path, or //host/path; "" when no route does.
func publicURL(st *config.Stack, app string) string {
	for _, r := range st.Edge.Routes {
		if r.Storage != app {
			continue
		}
		if r.Host != "" && r.Host[0] != '*' {
			return "//" + r.Host + r.Path
		}
		return r.Path
	}
	return ""
}

// replicator builds the replication of every bucket to the replica.
func (sp *storagePart) replicator(n *Node) (*storage.Replicator, error) {
	r := sp.st.Replication
	sched, err := cron.Parse(r.Resync)
	if err != nil {
		return nil, fmt.Errorf("storage.replication.resync: %w", err) // validated: not reached
	}
	metrics, err := n.tel.metrics.WatchReplication(sp.replicationSamples)
	if err != nil {
		return nil, err
	}
	sp.metrics = metrics
	return storage.NewReplicator(storage.ReplicatorOptions{
		Pairs:        sp.storage.Pairs(),
		Interval:     time.Duration(r.Interval),
		Workers:      r.Workers,
		SpoolDir:     filepath.Join(n.st.Cluster.DataDir, "storage-spool"),
		NextResync:   func(t time.Time) time.Time { return sched.Next(t, time.Local) },
		OnReplicated: metrics.Observe,
		Logger:       sp.log.With("replica", sp.st.Replica.S3.Endpoint),
	})
}

// replicationSamples are the replication's metrics at a scrape: none on
// a node that does not replicate, which knows nothing current of it.
func (sp *storagePart) replicationSamples() []telemetry.ReplicationSample {
	if !sp.repl.Running() {
		return nil
	}
	st := sp.repl.Status()
	var out []telemetry.ReplicationSample
	for _, b := range st.Buckets {
		out = append(out, telemetry.ReplicationSample{App: b.App, Pending: b.Pending, Lag: b.Lag.Seconds(),
			Copied: b.Copied, Deleted: b.Deleted, Failed: b.Failed, StoreUp: st.StoreDown.IsZero(), ReplicaUp: st.ReplicaDown.IsZero()})
	}
	return out
}

// start starts the embedded store, if the stack runs one, and checks the
// buckets (creating those missing); a store that refuses the credentials
// fails the start. Then it runs what goes on: the buckets a store did
// not answer for, the readers' health checks, the replication.
func (sp *storagePart) start(ctx context.Context, n *Node, run func(string, func(context.Context) error)) error {
	if sp.embedded != nil {
		o := *sp.embedded
		o.Supervisor = n.sup
		e, err := storage.StartEmbedded(ctx, o)
		if err != nil {
			return err
		}
		sp.running.Store(e)
	}
	ectx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	if err := sp.storage.Ensure(ectx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	run("storage", sp.storage.Run)
	for app, r := range sp.readers {
		run("storage reader "+app, r.Run)
	}
	if sp.repl != nil {
		run("replication", func(ctx context.Context) error { return sp.replicate(ctx, n.cl) })
	}
	return nil
}

// replicate runs the replicator while this node holds the replication
// lock, trying to take it every replicationRetry: one node replicates,
// and another takes over within the lock's lease once it is gone.
func (sp *storagePart) replicate(ctx context.Context, cl *cluster.Cluster) error {
	t := time.NewTicker(replicationRetry)
	defer t.Stop()
	for {
		lock, err := cl.TryLock(ctx, replicationLock, sp.node+" (storage replication)")
		switch {
		case err == nil:
			sp.log.Info("replicating to the replica", "replica", sp.st.Replica.S3.Endpoint)
			if err := sp.runLocked(ctx, lock); err != nil {
				return err
			}
		case !errors.Is(err, cluster.ErrLocked) && ctx.Err() == nil:
			sp.log.Warn("replication lock not taken", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runLocked runs the replicator until ctx ends or the lock is lost, then
// releases the lock.
func (sp *storagePart) runLocked(ctx context.Context, lock *cluster.Lock) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		select {
		case <-lock.Lost():
			sp.log.Warn("replication lock lost: another node may replicate")
			cancel()
		case <-rctx.Done():
		}
	}()
	err := sp.repl.Run(rctx)
	cancel()
	<-lost
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer ucancel()
	if uerr := lock.Unlock(uctx); uerr != nil {
		sp.log.Warn("replication lock not released; its lease ends it", "err", uerr)
	}
	return err
}

// env is what an app's processes are told of its bucket; nil without
// storage.
func (sp *storagePart) env(app string) []string {
	if sp == nil {
		return nil
	}
	return sp.storage.Env(app)
}

// status is the storage for the admin API; nil without storage.
func (sp *storagePart) status() *admin.StorageStatus {
	if sp == nil {
		return nil
	}
	st := &admin.StorageStatus{Store: sp.storage.Store().URL}
	if r := sp.storage.Replica(); r != nil {
		st.Replica = r.URL
	}
	for _, p := range sp.storage.Pairs() {
		b := admin.StorageBucket{App: p.App, Bucket: p.Name, PublicURL: p.PublicURL}
		if p.Replica != nil {
			b.Replica = p.Bucket.Replica
		}
		st.Buckets = append(st.Buckets, b)
	}
	if e := sp.running.Load(); e != nil {
		ps := e.Status()
		st.Embedded = &admin.EmbeddedStoreStatus{Listen: sp.embedded.Gateway.Listen, Dir: sp.embedded.Gateway.Dir, PID: ps.PID,
			State: string(ps.State), Restarts: ps.Restarts}
		if ps.CrashLoop {
			st.Embedded.State = "crashloop"
		}
		if ps.LastExit != nil {
			st.Embedded.LastExit = ps.LastExit.Err
		}
	}
	if sp.repl != nil && sp.repl.Running() {
		rs := sp.repl.Status()
		st.Replication = &rs
	}
	return st
}
