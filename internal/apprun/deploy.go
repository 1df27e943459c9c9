package apprun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/deploy"
)

// This file runs deploys and rollbacks of the app on this node, as
// deploy.Drivers over its supervisor and pool, in tasks that outlive the
// request that started them. A deploy asked of a node whose cluster has
// other nodes running the app is a rollout across them (rollout.go).

// DeployRequest asks for a new release of the app: Change applied to
// Spec (a whole app section, from a stack file) or, without Spec, to the
// current release. An empty request redeploys the current spec as a new
// release.
type DeployRequest struct {
	Who     string
	Version string // the new release's label; "" for the next vN
	Spec    *deploy.Spec
	Change  deploy.Change
}

// origin says who asked for a deploy on this node, which decides what
// its end records in the cluster.
type origin int

const (
	originUser     origin = iota // the admin API, on this node alone: its success is the cluster's release
	originRollout                // part of a rollout this node coordinates: the rollout's end decides
	originPeer                   // asked by the node that coordinates a rollout
	originConverge               // catching up with the cluster's release
)

// localRequest is a deploy to run on this node.
type localRequest struct {
	rel         deploy.Release
	kind        string // deploy.KindDeploy or deploy.KindRollback
	who         string
	fromStack   bool // rel is a stack file's section: remember it as the stack's spec
	skipRelease bool // the release phase ran on another node
	origin      origin
	desiredKey  string // originConverge: the cluster's release it converges to
}

// Deploy starts a deploy of a new release and returns a watch of its
// progress; the deploy goes on if the watcher leaves.
func (a *App) Deploy(ctx context.Context, req DeployRequest) (deploy.EventLog, error) {
	if err := a.opts.Cluster.RequireQuorum("deploy " + a.name); err != nil {
		return nil, err
	}
	a.mu.Lock()
	cur, ok := a.state.CurrentRelease()
	seq := a.state.Seq
	a.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("deploy %s: %w: the node has not started the app yet", a.name, ErrConflict)
	}
	spec, err := requestSpec(req, cur.Spec())
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w: %w", a.name, ErrInvalid, err)
	}
	version := req.Version
	if version == "" {
		version = deploy.AutoVersion(seq + 1)
	}
	if err := deploy.CheckVersion(version); err != nil {
		return nil, fmt.Errorf("deploy %s: %w: %w", a.name, ErrInvalid, err)
	}
	source := deploy.SourceDeploy
	if req.Spec != nil {
		source = deploy.SourceStack
	}
	rel := deploy.Release{Version: version, Command: spec.Command, Dir: spec.Dir, Env: spec.Env, ReleaseCommand: spec.ReleaseCommand,
		Created: time.Now(), Source: source}
	lr := localRequest{rel: rel, kind: deploy.KindDeploy, who: req.Who, fromStack: req.Spec != nil}
	return a.deployAcross(ctx, lr)
}

// Rollback starts a deploy of a kept release: version, or "" for the one
// the current release replaced.
func (a *App) Rollback(ctx context.Context, who, version string) (deploy.EventLog, error) {
	if err := a.opts.Cluster.RequireQuorum("rollback " + a.name); err != nil {
		return nil, err
	}
	rel, err := a.rollbackRelease(version)
	if err != nil {
		return nil, err
	}
	return a.deployAcross(ctx, localRequest{rel: rel, kind: deploy.KindRollback, who: who})
}

// deployAcross runs lr across the cluster when other nodes run the app,
// else on this node alone. The nodes that recorded running the app but
// are down take part as nodes not reached: the rollout names them, and
// they converge to its release when they return.
func (a *App) deployAcross(ctx context.Context, lr localRequest) (deploy.EventLog, error) {
	if a.opts.Peers == nil {
		return a.startLocal(lr)
	}
	nodes := a.opts.Peers.Nodes(a.name)
	nodes = append(nodes, a.downNodes(ctx, nodes)...)
	if len(nodes) == 0 {
		return a.startLocal(lr)
	}
	return a.startRollout(ctx, lr, nodes)
}

// downNodes are the nodes, other than this one and those up, that
// recorded running the app; each without an address.
func (a *App) downNodes(ctx context.Context, up []deploy.Member) []deploy.Member {
	running, err := a.readRunning(ctx)
	if err != nil {
		a.log.Warn("the nodes that run the app could not be read; a deploy reaches the nodes up only", "err", err)
		return nil
	}
	var down []deploy.Member
	for _, r := range running {
		if r.Node != a.opts.Node && !slices.ContainsFunc(up, func(m deploy.Member) bool { return m.Name == r.Node }) {
			down = append(down, deploy.Member{Name: r.Node, Zone: r.Zone})
		}
	}
	return down
}

// DeployFromPeer rolls this node to rel for the node that coordinates a
// rollout; a node that runs rel already has nothing to do.
func (a *App) DeployFromPeer(rel deploy.Release, who string, skipRelease bool) (deploy.EventLog, error) {
	if err := deploy.CheckVersion(rel.Version); err != nil {
		return nil, fmt.Errorf("deploy %s: %w: %w", a.name, ErrInvalid, err)
	}
	if w := a.runsAlready(rel.Version); w != nil {
		return w, nil
	}
	return a.startLocal(localRequest{rel: rel, kind: deploy.KindDeploy, who: who, skipRelease: skipRelease, origin: originPeer})
}

// RollbackFromPeer rolls this node back to a kept release for the node
// that coordinates a rollback, or undoes a rollout that failed elsewhere.
func (a *App) RollbackFromPeer(version, who string) (deploy.EventLog, error) {
	if w := a.runsAlready(version); w != nil {
		return w, nil
	}
	rel, err := a.rollbackRelease(version)
	if err != nil {
		return nil, err
	}
	return a.startLocal(localRequest{rel: rel, kind: deploy.KindRollback, who: who, origin: originPeer})
}

// requestSpec is the spec a deploy request asks for.
func requestSpec(req DeployRequest, cur deploy.Spec) (deploy.Spec, error) {
	base := cur
	if req.Spec != nil {
		base = *req.Spec
	}
	spec := req.Change.Apply(base)
	switch {
	case len(spec.Command) == 0 || spec.Command[0] == "":
		return spec, errors.New("command: must not be empty")
	case !strings.HasPrefix(spec.Dir, "/"):
		return spec, fmt.Errorf("dir: %q must be an absolute path", spec.Dir)
	case spec.ReleaseCommand != nil && (len(spec.ReleaseCommand) == 0 || spec.ReleaseCommand[0] == ""):
		return spec, errors.New("release command: must not be empty")
	}
	for k := range spec.Env {
		if !validEnvName(k) || k == "PORT" {
			return spec, fmt.Errorf("env: %q cannot be set: use letters, digits and _, not PORT", k)
		}
	}
	return spec, nil
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// rollbackRelease is the kept release a rollback to version ("" for the
// one the current release replaced) runs.
func (a *App) rollbackRelease(version string) (deploy.Release, error) {
	a.mu.Lock()
	ok := true
	if version == "" {
		version, ok = a.state.Previous()
	}
	rel, kept := a.state.Release(version)
	current := a.state.Current
	a.mu.Unlock()
	switch {
	case !ok:
		return rel, fmt.Errorf("rollback %s: %w: no earlier release is kept", a.name, ErrNotFound)
	case !kept:
		return rel, fmt.Errorf("rollback %s: %w: release %q is not kept (tandem history %s lists the kept ones)", a.name, ErrNotFound, version, a.name)
	case version == current:
		return rel, fmt.Errorf("rollback %s: %w: %s is the current release already", a.name, ErrConflict, version)
	}
	return rel, nil
}

// runsAlready returns a finished watch if the app runs version ("" is
// never run) and no deploy of it is in progress; nil otherwise.
func (a *App) runsAlready(version string) deploy.EventLog {
	a.mu.Lock()
	runs := version != "" && a.state.Current == version && a.deploy == nil
	a.mu.Unlock()
	if !runs {
		return nil
	}
	return deploy.Finished{Time: time.Now(), Step: deploy.StepDone, Version: version, Result: deploy.ResultSucceeded,
		Message: fmt.Sprintf("%s runs here already; nothing to do", version)}
}

// startLocal records a deploy of lr.rel on this node as pending and
// starts its driver. A new release (not yet kept) is kept; a rollback's
// is kept already.
func (a *App) startLocal(lr localRequest) (*deploy.Driver, error) {
	rel, kind := lr.rel, lr.kind
	a.mu.Lock()
	if a.deploy != nil {
		rec, _ := a.deploy.Status()
		a.mu.Unlock()
		return nil, fmt.Errorf("%s %s: %w: a %s of %s -> %s by %s is in progress (tandem deploy %s --watch follows it)",
			kind, a.name, ErrConflict, rec.Kind, rec.From, rec.To, rec.Who, a.name)
	}
	cur, _ := a.state.CurrentRelease()
	if kind == deploy.KindDeploy {
		if _, exists := a.state.Release(rel.Version); exists {
			a.mu.Unlock()
			return nil, fmt.Errorf("deploy %s: %w: release %s exists already (tandem rollback %s %s runs it again)", a.name, ErrConflict, rel.Version, a.name, rel.Version)
		}
		a.state.Seq++
		if lr.origin == originPeer || lr.origin == originConverge {
			a.state.Seq = max(a.state.Seq, versionSeq(rel.Version)) // another node named it
		}
		a.state.AddRelease(rel, a.opts.History)
		if lr.fromStack {
			spec := rel.Spec()
			a.state.StackSpec = &spec
		}
	}
	old := make([]string, 0, len(a.instances))
	for _, in := range a.instances {
		if !in.retiring {
			old = append(old, in.name)
		}
	}
	rec := deploy.Record{ID: a.state.NextID(), Kind: kind, Who: lr.who, From: cur.Version, To: rel.Version, Started: time.Now()}
	drv, err := deploy.NewDriver(deploy.DriverOptions{
		From: cur, To: rel, Old: old, Want: a.want, Surge: a.opts.Surge,
		Startup: a.opts.Startup, Drain: a.opts.Drain,
		ReleasePhase: kind == deploy.KindDeploy && rel.ReleaseCommand != nil && !lr.skipRelease, ReleaseTimeout: a.opts.ReleaseTimeout,
		Record: rec, Runtime: &deployRuntime{a: a, req: lr}, Logger: a.log.With("deploy", rec.ID),
	})
	if err != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("%s %s: %w: %w", kind, a.name, ErrInvalid, err)
	}
	a.state.Pending = &rec
	a.deploy = drv
	st := a.cloneStateLocked()
	a.mu.Unlock()
	if err := a.saveState(st); err != nil {
		a.endDeploy()
		return nil, fmt.Errorf("%s %s: %w", kind, a.name, err)
	}
	if err := a.tasks.start(func(ctx context.Context) { drv.Run(ctx) }); err != nil {
		a.endDeploy()
		return nil, fmt.Errorf("%s %s: %w", kind, a.name, err)
	}
	return drv, nil
}

// endDeploy forgets a deploy that could not start.
func (a *App) endDeploy() {
	a.mu.Lock()
	a.deploy = nil
	a.state.Pending = nil
	st := a.cloneStateLocked()
	a.mu.Unlock()
	if err := a.saveState(st); err != nil {
		a.log.Error("save releases", "err", err)
	}
}

// Watch returns the progress of the deploy of the app in progress: the
// rollout this node coordinates, else the deploy on this node.
func (a *App) Watch() (deploy.EventLog, error) {
	a.mu.Lock()
	drv, ro := a.deploy, a.rollout
	a.mu.Unlock()
	switch {
	case ro != nil:
		return ro, nil
	case drv != nil:
		return drv, nil
	}
	return nil, fmt.Errorf("%w: no deploy of %s is in progress (tandem history %s shows the past ones)", ErrNotFound, a.name, a.name)
}

// deployRuntime performs a deploy's actions on the app.
type deployRuntime struct {
	a   *App
	req localRequest
}

var _ deploy.Runtime = (*deployRuntime)(nil)

func (r *deployRuntime) RunRelease(ctx context.Context, rel deploy.Release, output func(string)) error {
	return r.a.runRelease(ctx, rel, output)
}

func (r *deployRuntime) Start(ctx context.Context, rel deploy.Release) (string, error) {
	return r.a.startInstance(ctx, rel)
}

func (r *deployRuntime) Retire(ctx context.Context, instance string, drain time.Duration) error {
	return r.a.retireInstance(ctx, instance, drain)
}

func (r *deployRuntime) Describe(name string) string {
	a := r.a
	var parts []string
	if t, err := a.pool.Target(name); err == nil && t.LastError != "" {
		parts = append(parts, "last check: "+t.LastError)
	}
	a.mu.Lock()
	i := slices.IndexFunc(a.instances, func(in *instance) bool { return in.name == name })
	var in *instance
	if i >= 0 {
		in = a.instances[i]
	}
	a.mu.Unlock()
	if in != nil {
		if ex := in.proc.Status().LastExit; ex != nil && !ex.Requested {
			parts = append(parts, "last exit: "+ex.Describe())
		}
	}
	return strings.Join(parts, "; ")
}

// Finish records the end of a deploy: a succeeded one makes its release
// current here, and — when this node alone was asked for it — the
// cluster's.
func (r *deployRuntime) Finish(rec deploy.Record) error {
	a := r.a
	a.opts.OnDeployEnd(a.name, rec)
	a.mu.Lock()
	a.deploy = nil
	a.state.Pending = nil
	a.state.AddRecord(rec)
	succeeded := rec.Result == deploy.ResultSucceeded
	if succeeded {
		a.state.Current = rec.To
	}
	if r.req.origin == originConverge && !succeeded {
		a.desired.failed = r.req.desiredKey
	}
	st := a.cloneStateLocked()
	a.mu.Unlock()
	err := a.saveState(st)
	ctx := context.Background() // the deploy is over; its records are written within the cluster's own bound
	if succeeded && r.req.origin == originUser {
		a.publishDesired(ctx, r.req.rel, fmt.Sprintf("%s by %s at %s", rec.Kind, rec.Who, a.opts.Node))
	}
	a.recordRunning(ctx)
	a.recheckDesired()
	return err
}

// versionedState is a snapshot of the app's state with a number that
// orders snapshots.
type versionedState struct {
	deploy.AppState
	Version uint64
}

// cloneStateLocked snapshots a.state for saving; the caller holds a.mu.
func (a *App) cloneStateLocked() versionedState {
	a.stateVersion++
	st := a.state
	st.Releases = slices.Clone(st.Releases)
	st.Deploys = slices.Clone(st.Deploys)
	if st.Pending != nil {
		p := *st.Pending
		st.Pending = &p
	}
	return versionedState{AppState: st, Version: a.stateVersion}
}

// saveState writes the app's state; saves are serialised so that an
// older snapshot never overwrites a newer one.
func (a *App) saveState(st versionedState) error {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	newer := a.saved > st.Version
	a.mu.Unlock()
	if newer {
		return nil
	}
	if err := a.opts.Store.Save(st.AppState); err != nil {
		return err
	}
	a.mu.Lock()
	a.saved = st.Version
	a.mu.Unlock()
	return nil
}
