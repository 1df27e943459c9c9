// Package node is tandem's composition root: it turns a validated stack
// file into each part's Options, starts the parts in order (listeners
// first, so a busy port fails before anything runs; then the supervisor,
// balancers and instances; then the edge and admin API) and stops them in
// reverse: the edge drains in-flight requests before any instance is asked
// to stop.
package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
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
}

// Node is one tandem process: the parts of a stack running on one machine.
type Node struct {
	opts    Options
	st      *config.Stack
	log     *slog.Logger
	sup     *supervise.Supervisor
	edge    *edge.Server
	cache   *httpcache.Cache // nil when edge.cache.memory is 0
	purger  edge.Purger
	admin   *admin.Server
	tracing *telemetry.Tracing // spans of the edge's requests; a no-op when off
	tokens  *tokenStore        // the admin API's tokens, in the cluster
	audit   *admin.AuditLog    // the admin API's audit log
	apps    []*app
	started time.Time

	cl    clusterPart    // the control plane and this node's place in it
	peers *peerTransport // to other nodes' instances, for remote targets

	releases *deploy.Store // each app's releases and deploys; opened by Run
	jobs     *cron.Runner  // nil when the stack has no jobs
	tasks    tasks         // deploys in progress
	tel      *nodeTelemetry

	// checks runs the uptime checks; nil when the stack has none.
	checks *uptime.Monitor
}

// app is one app of the stack on this node: its instances, its pool, the
// gate in front of the pool, and its releases.
type app struct {
	name      string
	cfg       *config.App
	pool      *balance.Pool
	gate      *edge.Gate
	saveMu    sync.Mutex // serialises writes of the app's state file
	mu        sync.Mutex // guards the fields below
	instances []*instance
	seq       int             // instances started so far; names them
	state     deploy.AppState // releases, deploy records, maintenance
	deploy    *deploy.Driver  // the deploy in progress; nil if none
	// clusterDeploy is the deploy across the cluster this node
	// coordinates; nil if none.
	clusterDeploy *clusterDeploy
	// stateVersion numbers snapshots of state; saved is the last one
	// written.
	stateVersion, saved uint64
}

// instance is one supervised process and its balancer target.
type instance struct {
	name string
	addr string
	proc *supervise.Instance
	// version is the release it runs; slot its TANDEM_INSTANCE_INDEX.
	version string
	slot    int
	// unhealthySince is when the balancer last saw the instance turn
	// unhealthy; zero while it is healthy or starting. Guarded by app.mu.
	unhealthySince time.Time
	// retiring is set once a deploy drains it. Guarded by app.mu.
	retiring bool
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
	n := &Node{opts: opts, st: st, log: opts.Logger, tel: newTelemetry(opts.Stack)}
	if n.tracing, err = newTracing(st, opts.Version, n.log); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	defer func() {
		if err != nil {
			n.stopTracing()
		}
	}()

	sup, err := supervise.New(supervise.Options{Logger: n.log, OnEvent: n.onProcessEvent})
	if err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n.sup = sup
	n.peers = &peerTransport{}

	upstreams := make(map[string]http.RoundTripper)
	for _, name := range st.AppNames {
		a, err := n.newApp(name, st.Apps[name])
		if err != nil {
			return nil, fmt.Errorf("new node: %w", err)
		}
		n.apps = append(n.apps, a)
		upstreams[name] = a.gate
	}

	if n.cache, err = newCache(st, n.log); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n.purger = clusterPurger{local: localPurger{cache: n.cache, log: n.log.With("part", "cache")}, n: n}
	if n.cl.c, err = n.newCluster(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n.peers.c = n.cl.c
	n.cl.changed = make(chan struct{}, 1)
	edgeOpts := n.tracedEdge(edgeOptions(st, upstreams, n.cache, n.purger, opts.AccessLog, n.log))
	edgeOpts.Observer, edgeOpts.Instances = n.tel, n.instanceName
	if n.edge, err = edge.New(edgeOpts); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if n.jobs, err = n.newJobs(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if n.checks, err = n.newChecks(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if err := n.watchTelemetry(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if n.admin, err = n.newAdmin(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	return n, nil
}
