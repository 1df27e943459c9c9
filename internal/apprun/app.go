package apprun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/supervise"
)

// Options configure an App.
type Options struct {
	// Name is the app's name in the stack file.
	Name string
	// Node and Zone are this node's name and zone.
	Node, Zone string
	// Stack is the release the stack file's section of the app
	// describes; StackFile names the file, for the records.
	Stack     deploy.Spec
	StackFile string
	// Instances is how many instances run on this node.
	Instances int
	// Startup is a new instance's health-gate allowance in a deploy.
	Startup time.Duration
	// RestartAfter restarts an instance unhealthy for that long; 0 never.
	RestartAfter time.Duration
	// Surge, Drain, ReleaseTimeout and History shape deploys: new
	// instances starting at once, the drain allowance of a retired
	// instance, the release phase's bound (0: none), releases kept.
	Surge          int
	Drain          time.Duration
	ReleaseTimeout time.Duration
	History        int
	// Process holds the settings of every process the app runs.
	Process ProcessOptions

	// Pool configures the balancer of the app's requests over its
	// instances; the App sets its OnHealthChange.
	Pool balance.Options
	// Processes runs the app's processes: the node's supervisor.
	Processes Processes
	// Store keeps the app's releases on this node.
	Store *deploy.Store
	// Cluster is the control plane: the quorum check, the cluster-wide
	// deploy lock and the desired release. Required.
	Cluster Cluster
	// Peers reaches the other nodes that run the app, for deploys across
	// the cluster; nil deploys on this node only.
	Peers Peers

	// OnDeployEnd is told of every deploy that ended (metrics); nil
	// ignores them.
	OnDeployEnd func(app string, rec deploy.Record)
	// OnChange is told when the app's instances or their health change,
	// so that they are published; it must not block. nil ignores them.
	OnChange func()
	// Env, if set, returns what the app's processes get besides the
	// node's environment (before the release's env, which may override
	// it): the app's bucket (S3_*). It is called for each process.
	Env func() []string
	// InstanceEnv, if set, returns what the app's instances get after
	// everything else, overriding it: not its release command nor its
	// jobs. A follower site's instances that serve reads get their
	// site's database in DATABASE_URL. It is called for each instance.
	InstanceEnv func() []string
	// Transport, if set, returns what the app's gate sends requests
	// through, given the app's pool; nil sends them to the pool. A
	// follower site's node routes reads and writes apart with it.
	Transport func(*balance.Pool) http.RoundTripper
	// Logger receives the app's log; nil discards it.
	Logger *slog.Logger
}

// ProcessOptions are the settings of an app's processes.
type ProcessOptions struct {
	MemoryLimit            int64 // bytes; 0 means none
	StopSignal             syscall.Signal
	StopGrace              time.Duration
	MinBackoff, MaxBackoff time.Duration
}

// Processes runs processes; *supervise.Supervisor implements it.
type Processes interface {
	Start(ctx context.Context, spec supervise.Spec) (*supervise.Instance, error)
	RunOnce(ctx context.Context, spec supervise.Spec) (supervise.Exit, error)
}

// Cluster is what an app needs of the control plane; *cluster.Cluster
// implements it.
type Cluster interface {
	RequireQuorum(op string) error
	TryLock(ctx context.Context, name, holder string) (*cluster.Lock, error)
	Record(ctx context.Context, kind, id string) ([]byte, error)
	PutRecord(ctx context.Context, kind, id string, value []byte) error
	PutNodeRecord(ctx context.Context, node, kind, id string, value []byte) error
	NodeRecords(ctx context.Context, kind, id string) (map[string][]byte, error)
	WatchRecords(ctx context.Context, kind string) <-chan struct{}
	WatchNodeRecords(ctx context.Context) <-chan struct{}
}

// App is one app of the stack on this node.
type App struct {
	opts  Options
	name  string
	log   *slog.Logger
	tasks *tasks
	pool  *balance.Pool
	gate  *edge.Gate

	saveMu sync.Mutex // serialises writes of the app's state file

	mu        sync.Mutex // guards the fields below
	env       []string   // the environment Start was given
	started   bool       // Start succeeded
	instances []*instance
	seq       int                   // instances started so far; names them
	state     deploy.AppState       // releases, deploy records, maintenance
	deploy    *deploy.Driver        // the deploy in progress on this node; nil if none
	rollout   *deploy.RolloutDriver // the rollout this node coordinates; nil if none
	// stateVersion numbers snapshots of state; saved is the last one
	// written.
	stateVersion, saved uint64
	// desired is the cluster's release as last read (see converge).
	desired desiredState
	// want is how many instances the app runs here: Options.Instances
	// until Scale changes it.
	want int

	// recheck asks Run to compare the app with the cluster's release
	// again (a deploy ended); capacity 1.
	recheck chan struct{}
}

// New checks opts and returns an app that runs nothing yet.
func New(opts Options) (*App, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("new app: no name")
	case opts.Processes == nil || opts.Store == nil || opts.Cluster == nil:
		return nil, fmt.Errorf("new app %s: processes, store and cluster are required", opts.Name)
	case opts.Instances < 0 || opts.Surge < 1 || opts.Startup <= 0:
		return nil, fmt.Errorf("new app %s: instances %d, surge %d, startup %s out of range", opts.Name, opts.Instances, opts.Surge, opts.Startup)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnChange == nil {
		opts.OnChange = func() {}
	}
	if opts.OnDeployEnd == nil {
		opts.OnDeployEnd = func(string, deploy.Record) {}
	}
	a := &App{opts: opts, name: opts.Name, log: opts.Logger.With("app", opts.Name), tasks: newTasks(), recheck: make(chan struct{}, 1), want: opts.Instances}
	po := opts.Pool
	po.OnHealthChange = a.onHealthChange
	pool, err := balance.NewPool(po)
	if err != nil {
		return nil, fmt.Errorf("new app %s: %w", opts.Name, err)
	}
	a.pool = pool
	var next http.RoundTripper = pool
	if opts.Transport != nil {
		next = opts.Transport(pool)
	}
	a.gate = edge.NewGate(next)
	return a, nil
}

// Name is the app's name.
func (a *App) Name() string { return a.name }

// Pool is the app's balancer pool; the node runs it.
func (a *App) Pool() *balance.Pool { return a.pool }

// Gate is the app's upstream for the edge: the gate in front of its pool.
func (a *App) Gate() *edge.Gate { return a.gate }

// Start decides which release the app runs (see loadRelease) and starts
// its instances; they take requests once their health checks pass. env
// is the environment every process of the app inherits, before the
// release's own.
func (a *App) Start(ctx context.Context, env []string) error {
	a.mu.Lock()
	a.env = env
	a.mu.Unlock()
	rel, err := a.loadRelease(ctx)
	if err != nil {
		return err
	}
	a.holdUntilReady()
	for range a.wantInstances() {
		if _, err := a.startInstance(ctx, rel); err != nil {
			return err
		}
	}
	a.readyIfHealthy()
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	a.recordRunning(ctx)
	return nil
}

// recheckDesired asks Run to converge again; it never blocks.
func (a *App) recheckDesired() {
	select {
	case a.recheck <- struct{}{}:
	default:
	}
}

// Run restarts instances that stay unhealthy, and follows the cluster's
// release of the app (converge), until ctx ends; then it stops the
// deploys in progress and returns once they have ended.
func (a *App) Run(ctx context.Context) error {
	defer a.tasks.stop()
	var wg sync.WaitGroup
	wg.Go(func() { a.watchHealth(ctx) })
	wg.Go(func() { a.followCluster(ctx) })
	wg.Wait()
	return nil
}

// watchHealth restarts the instances that stay unhealthy.
func (a *App) watchHealth(ctx context.Context) {
	t := time.NewTicker(healthWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.restartUnhealthy(now)
		}
	}
}

// followCluster converges the app to the cluster's release whenever that,
// or a node's record of what it runs, changes, and when a deploy here
// ended.
func (a *App) followCluster(ctx context.Context) {
	desired := a.opts.Cluster.WatchRecords(ctx, desiredKind)
	running := a.opts.Cluster.WatchNodeRecords(ctx)
	for {
		select {
		case <-ctx.Done():
			for range desired { // closed once the watches have stopped
			}
			for range running {
			}
			return
		case <-desired:
		case <-running:
		case <-a.recheck:
		}
		a.converge(ctx)
	}
}
