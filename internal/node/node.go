// Package node is tandem's composition root: it turns a validated stack
// file into each part's Options, builds the parts (New), starts them in
// order and stops them in reverse (Run). It holds no domain logic: each
// job lives in its part's package (see docs/design.md).
//
// Start order: the edge and admin listeners (and the sites' DNS
// responder's sockets) are bound first, so a busy port fails before
// anything runs; then the control plane opens; then the
// supervisor, balancers, apps and the other parts start, the apps'
// instances are started, and the edge serves. Stop order is the reverse:
// the edge drains in-flight requests before any instance is asked to stop.
//
// An upgrade (Upgrade, carried out by Run and Serve) is a stop that stops
// no instance: the edge drains without closing its listening sockets, the
// supervisor lets its processes go, and the process execs the new binary,
// which takes the listeners and instances over (Options.Handover) in the
// same start order, binding and starting nothing it was handed.
package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/backuprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/handover"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/peer"
	"github.com/tandem-run/tandem/internal/purge"
	"github.com/tandem-run/tandem/internal/supervise"
	"github.com/tandem-run/tandem/internal/telemetry"
	"github.com/tandem-run/tandem/internal/uptime"
)

// Options configure a Node.
type Options struct {
	// Stack is the validated stack file.
	Stack *config.Stack
	// Logger receives tandem's own log and the apps' output.
	Logger *slog.Logger
	// AccessLog receives the edge's access log; nil disables it.
	AccessLog io.Writer
	// Environ is the environment the apps inherit (normally os.Environ());
	// the stack file's env, PORT and TANDEM_* are added to it.
	Environ []string
	// Version is reported in status.
	Version string
	// Join is a join token: on the first start the node joins that
	// cluster instead of founding its own.
	Join string
	// Keeper is the tandem binary the supervisor runs as its keeper, which
	// kills every app process when the node's process ends, however it
	// ends; "" runs none (a node inside a test process), and the node
	// cannot be upgraded in place. It is also the binary an upgrade runs
	// when it is given none: where a package manager puts a new version.
	Keeper string
	// Args are the command-line arguments the node was started with
	// (after the program's name), which an upgrade gives the new binary.
	Args []string
	// Program is the command that runs this tandem binary (the program and
	// any leading arguments), which PostgreSQL's archive_command and
	// restore_command run as the postgres user to reach the node's WAL
	// archiver; nil: Keeper, else the running executable.
	Program []string
	// Handover, if not nil, is what the binary that ran this node before
	// an upgrade handed over (handover.Open): the node takes its listeners
	// and instances over rather than binding and starting them.
	Handover *handover.Handover
}

// Node is one tandem process: the parts of a stack running on one machine.
type Node struct {
	opts Options
	st   *config.Stack
	log  *slog.Logger

	tracing  *telemetry.Tracing // spans of the edge's requests; a no-op when off
	tracer   edge.Tracer        // the edge's and balancers' spans; nil when tracing is off
	tel      *nodeTelemetry
	sup      *supervise.Supervisor
	cl       *cluster.Cluster
	view     *cluster.Viewer
	reg      *cluster.Registry
	apps     *apprun.Set
	changed  chan struct{}    // the apps' instances changed: publish them
	presence *apprun.Presence // built by Run, once the listeners are bound
	peers    *peer.Transport  // to other nodes' node listeners
	cache    *httpcache.Cache // nil when edge.cache.memory is 0
	// upstreams are the pools of the stack's upstreams, by name.
	upstreams map[string]*balance.Pool
	purges    *purge.Replicator
	edge      *edge.Server       // nil on a witness
	jobs      *cron.Runner       // nil when the stack has no jobs
	checks    *uptime.Monitor    // nil when the stack has none
	alerts    *uptime.Alerter    // one-off events: a database failover
	database  *dbPart            // nil when the stack has no database; opened by Run
	storage   *storagePart       // nil when the stack has no storage section
	backup    *backuprun.Runtime // nil when the stack has no backup section; built by New, opened by Run
	sites     *sitesPart         // nil when the stack has no sites section
	clients   *sitesClients      // the sites' DNS responder and health proxy; nil without either
	audit     *admin.AuditLog
	tokens    *admin.RecordTokenStore
	admin     *admin.Server
	releases  *deploy.Store
	started   time.Time

	// upgrades takes the upgrades Upgrade accepted; Run carries them out.
	upgrades  chan upgradeJob
	upgrading atomic.Bool // an upgrade was accepted and has not failed
	// handingOver: Run is handing the node over; it does not leave the
	// cluster.
	handingOver atomic.Bool
	// tookOver: with Options.Handover, the node has begun taking the
	// instances over, past the point of falling back.
	tookOver bool
	// handedOver is set when Run returns after handing the node over.
	handedOver *handover.Handover

	upMu    sync.Mutex           // guards upgrade
	upgrade *admin.UpgradeStatus // the last upgrade, for status; nil if none
}

// New builds a node from opts. It binds nothing and starts nothing but,
// when tracing is on, the exporter's batching goroutine, which Run stops.
func New(opts Options) (_ *Node, err error) {
	if opts.Stack == nil {
		return nil, errors.New("new node: no stack")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st := opts.Stack
	if err := checkStorage(st, opts.Join); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n := &Node{opts: opts, st: st, log: opts.Logger, tel: newTelemetry(st), upgrades: make(chan upgradeJob)}
	if h := opts.Handover; h != nil {
		u := h.Upgrade() // how it ended is known once the node has taken over (Run)
		u.Result, u.Error = admin.UpgradeRunning, ""
		n.setUpgrade(u)
	}
	if n.tracing, err = newTracing(st, opts.Version, n.log); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n.tracer = requestTracer(n.tracing)
	defer func() {
		if err != nil {
			n.stopTracing()
		}
	}()
	for _, build := range []func() error{n.buildCluster, n.buildStorage, n.buildApps, n.buildEdge, n.buildJobs, n.buildChecks, n.buildBackup, n.buildSites, n.buildAdmin} {
		if err := build(); err != nil {
			return nil, fmt.Errorf("new node: %w", err)
		}
	}
	return n, nil
}

// buildCluster builds the control plane and the parts that read it.
func (n *Node) buildCluster() (err error) {
	o := clusterOptions(n.st, n.opts.Join, n.log)
	if o.NodeListener, err = n.opts.Handover.Listener(handover.ListenerNode, n.nodeListenAddr()); err != nil {
		return err
	}
	if pg := n.postgres(); pg != nil {
		// The database primary's node does not lead etcd: its failover
		// then never waits for an etcd election first.
		o.AvoidLeader = n.dbPrimaryHere
		o.LeaderElsewhere = func() []string { return pg.Members }
	}
	if n.cl, err = cluster.New(o); err != nil {
		return err
	}
	n.view = n.cl.Viewer()
	n.peers = peer.NewTransport(n.cl.ClientTLS)
	return nil
}

// buildApps builds the supervisor, the release store and each app, and
// makes the node listener serve them to the other nodes.
func (n *Node) buildApps() (err error) {
	var apps []*apprun.App
	onEvent := func(ev supervise.Event) { n.apps.OnProcessEvent(ev) }
	so := supervise.Options{Logger: n.log, OnEvent: onEvent, KeeperPath: n.opts.Keeper}
	if h := n.opts.Handover; h != nil {
		so.Adopt = h.Processes()
	}
	if n.sup, err = supervise.New(so); err != nil {
		return err
	}
	if n.releases, err = deploy.OpenStore(filepath.Join(n.st.Cluster.DataDir, "releases")); err != nil {
		return err
	}
	client := peer.NewClient(n.st.Cluster.Node, n.view, n.peers)
	n.changed = make(chan struct{}, 1)
	for _, name := range n.st.AppNames {
		o := appOptions(n.st, name, n.log)
		n.localReads(&o)
		o.Pool = n.tracedPool(o.Pool)
		o.Pool.RemoteTransport = n.peers
		o.Processes, o.Store, o.Cluster, o.Peers = n.sup, n.releases, n.cl, client
		o.OnDeployEnd, o.OnChange = n.tel.deployEnded, apprun.Notify(n.changed)
		if n.storage != nil {
			o.Env = func() []string { return n.storage.env(name) }
		}
		a, err := apprun.New(o)
		if err != nil {
			return err
		}
		apps = append(apps, a)
	}
	n.apps = apprun.NewSet(apps...)
	n.cl.HandleNode(peer.NewHandler(n.apps, n.log.With("part", "peer")))
	return nil
}

// buildEdge builds the cache, the purge replication and the edge.
func (n *Node) buildEdge() (err error) {
	if n.cache, err = newCache(n.st, n.log); err != nil {
		return err
	}
	n.purges = purge.New(purge.Options{Cache: n.cache, Log: n.cl.PurgeLog(n.st.Cluster.Node, filepath.Join(n.st.Cluster.DataDir, "purge-cursor.json")),
		Nodes: n.view, Logger: n.log.With("part", "cache")})
	if n.clients, err = n.buildSitesClients(); err != nil {
		return err
	}
	if n.st.Cluster.Witness {
		return nil // an etcd member only: no edge (it may answer DNS)
	}
	upstreams := make(map[string]http.RoundTripper)
	for _, a := range n.apps.Apps() {
		upstreams[a.Name()] = a.Gate()
	}
	if n.upstreams, err = newUpstreamPools(n.st, n.tracedPool, n.log); err != nil {
		return err
	}
	for name, p := range n.upstreams {
		upstreams[name] = p
	}
	if n.storage != nil {
		for app, r := range n.storage.readers {
			upstreams[storageUpstream(app)] = r
		}
	}
	o := edgeOptions(n.st, upstreams, n.cache, n.purges, n.opts.AccessLog, n.log)
	n.routeFallbacks(o.Routes)
	if o.Inherited, err = n.inheritEdge(); err != nil {
		return err
	}
	o.Tracer, o.Observer = n.tracer, n.tel.observer
	o.Builtins = n.clients.builtins()
	n.edge, err = edge.New(o)
	return err
}

// inheritEdge returns the edge's listeners the previous binary handed
// over, by the edge's names; nil without a handover.
func (n *Node) inheritEdge() (map[string]net.Listener, error) {
	h := n.opts.Handover
	if h == nil {
		return nil, nil
	}
	out := make(map[string]net.Listener)
	for name, addr := range n.edgeAddrs() {
		ln, err := h.Listener(handover.EdgeListener(name), addr)
		if err != nil {
			return nil, err
		}
		if ln != nil {
			out[name] = ln
		}
	}
	return out, nil
}

// edgeAddrs are the stack file's addresses of the edge's listeners, by
// the edge's names.
func (n *Node) edgeAddrs() map[string]string {
	addrs := map[string]string{edge.ListenerHTTP: n.st.Edge.Listen}
	if t := n.st.Edge.TLS; t != nil {
		addrs[edge.ListenerTLS] = t.Listen
	}
	return addrs
}

// buildJobs builds the job runner; none when the stack has no jobs.
func (n *Node) buildJobs() (err error) {
	if len(n.st.JobNames) > 0 {
		n.jobs, err = newJobs(n.st, n.apps, n.sup, n.cl, n.opts.Environ, n.tel.jobRan, n.log)
	}
	return err
}

// buildChecks builds the uptime monitor (none when the stack has no
// checks) and the alerter of one-off events.
func (n *Node) buildChecks() (err error) {
	notifiers, err := newNotifiers(n.st)
	if err != nil {
		return err
	}
	n.alerts = uptime.NewAlerter(notifiers, n.log.With("part", "alerts"))
	if len(n.st.CheckNames) > 0 {
		n.checks, err = newChecks(n.st, n.cl, n.view, notifiers, n.log)
	}
	if err == nil {
		err = n.tel.watch(n.cache, n.apps, n.edge, n.checks, n.clusterSample)
	}
	return err
}
