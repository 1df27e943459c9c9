package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// This file implements the deploy endpoints of the admin API: deploys and
// rollbacks run as deploy.Drivers over the node's supervisor and
// balancers, as tasks that outlive the request that started them.

var _ admin.Deployer = (*Node)(nil)

// app returns the app called name, or an error for the API.
func (n *Node) app(name string) (*app, error) {
	i := slices.IndexFunc(n.apps, func(a *app) bool { return a.name == name })
	if i < 0 {
		names := make([]string, len(n.apps))
		for j, a := range n.apps {
			names[j] = a.name
		}
		return nil, admin.Errorf(admin.ErrNotFound, "no app %q on this node (apps: %s)", name, strings.Join(names, ", "))
	}
	return n.apps[i], nil
}

// controlPlane refuses changes while the control plane has no quorum: a
// node cut off from the others must not start a deploy they cannot see.
func (n *Node) controlPlane(op string) error {
	if h := n.cl.c.Health(); !h.Quorum {
		return admin.Errorf(admin.ErrUnavailable, "%s: the control plane (etcd) has no quorum (%s); the edge keeps serving, but no deploy can start until quorum returns", op, h.Err)
	}
	return nil
}

// Deploy implements admin.Deployer.
func (n *Node) Deploy(ctx context.Context, name string, req admin.DeployRequest) (admin.DeployWatch, error) {
	a, err := n.app(name)
	if err != nil {
		return nil, err
	}
	if err := n.controlPlane("deploy " + name); err != nil {
		return nil, err
	}
	a.mu.Lock()
	cur, ok := a.state.CurrentRelease()
	seq := a.state.Seq
	a.mu.Unlock()
	if !ok {
		return nil, admin.Errorf(admin.ErrConflict, "deploy %s: the node has not started the app yet", name)
	}
	spec, err := requestSpec(req, cur.Spec())
	if err != nil {
		return nil, admin.Errorf(admin.ErrBadRequest, "deploy %s: %w", name, err)
	}
	version := req.Version
	if version == "" {
		version = deploy.AutoVersion(seq + 1)
	}
	if err := deploy.CheckVersion(version); err != nil {
		return nil, admin.Errorf(admin.ErrBadRequest, "deploy %s: %w", name, err)
	}
	source := deploy.SourceDeploy
	if req.Spec != nil {
		source = deploy.SourceStack
	}
	rel := deploy.Release{Version: version, Command: spec.Command, Dir: spec.Dir, Env: spec.Env, ReleaseCommand: spec.ReleaseCommand,
		Created: time.Now(), Source: source}
	if peers := n.deployPeers(name); len(peers) > 0 {
		return n.deployCluster(ctx, a, rel, deploy.KindDeploy, req.Who, req.Spec != nil, peers)
	}
	return n.startDeploy(a, rel, deploy.KindDeploy, req.Who, req.Spec != nil, false)
}

// requestSpec is the spec a deploy request asks for.
func requestSpec(req admin.DeployRequest, cur deploy.Spec) (deploy.Spec, error) {
	base := cur
	if s := req.Spec; s != nil {
		base = deploy.Spec{Command: s.Command, Dir: s.Dir, Env: s.Env, ReleaseCommand: s.ReleaseCommand}
	}
	spec := deploy.Change{Command: req.Command, Dir: req.Dir, SetEnv: req.SetEnv, UnsetEnv: req.UnsetEnv, ReleaseCommand: req.ReleaseCommand}.Apply(base)
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

// Rollback implements admin.Deployer.
func (n *Node) Rollback(ctx context.Context, name string, req admin.RollbackRequest) (admin.DeployWatch, error) {
	a, err := n.app(name)
	if err != nil {
		return nil, err
	}
	if err := n.controlPlane("rollback " + name); err != nil {
		return nil, err
	}
	rel, err := rollbackRelease(a, req.Version)
	if err != nil {
		return nil, err
	}
	if peers := n.deployPeers(name); len(peers) > 0 {
		return n.deployCluster(ctx, a, rel, deploy.KindRollback, req.Who, false, peers)
	}
	return n.startDeploy(a, rel, deploy.KindRollback, req.Who, false, false)
}

// rollbackRelease is the kept release a rollback of a to version ("" for
// the one the current release replaced) runs.
func rollbackRelease(a *app, version string) (deploy.Release, error) {
	name := a.name
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
		return rel, admin.Errorf(admin.ErrNotFound, "rollback %s: no earlier release is kept", name)
	case !kept:
		return rel, admin.Errorf(admin.ErrNotFound, "rollback %s: release %q is not kept (tandem history %s lists the kept ones)", name, version, name)
	case version == current:
		return rel, admin.Errorf(admin.ErrConflict, "rollback %s: %s is the current release already", name, version)
	}
	return rel, nil
}

// startDeploy records a deploy of rel as pending and starts its driver.
// A new release (not yet kept) is kept; a rollback's is kept already.
// skipRelease leaves the release phase out: it ran on another node.
func (n *Node) startDeploy(a *app, rel deploy.Release, kind, who string, fromStack, skipRelease bool) (admin.DeployWatch, error) {
	a.mu.Lock()
	if a.deploy != nil {
		rec, _ := a.deploy.Status()
		a.mu.Unlock()
		return nil, admin.Errorf(admin.ErrConflict, "%s %s: a %s of %s -> %s by %s is in progress (tandem deploy %s --watch follows it)",
			kind, a.name, rec.Kind, rec.From, rec.To, rec.Who, a.name)
	}
	cur, _ := a.state.CurrentRelease()
	if kind == deploy.KindDeploy {
		if _, exists := a.state.Release(rel.Version); exists {
			a.mu.Unlock()
			return nil, admin.Errorf(admin.ErrConflict, "deploy %s: release %s exists already (tandem rollback %s %s runs it again)", a.name, rel.Version, a.name, rel.Version)
		}
		a.state.Seq++
		a.state.AddRelease(rel, a.cfg.Deploy.History)
		if fromStack {
			spec := rel.Spec()
			a.state.StackSpec = &spec
		}
	}
	var old []string
	for _, in := range a.instances {
		if !in.retiring {
			old = append(old, in.name)
		}
	}
	rec := deploy.Record{ID: a.state.NextID(), Kind: kind, Who: who, From: cur.Version, To: rel.Version, Started: time.Now()}
	d := a.cfg.Deploy
	drv, err := deploy.NewDriver(deploy.DriverOptions{
		From: cur, To: rel, Old: old, Want: a.cfg.Instances, Surge: d.Surge,
		Startup: time.Duration(a.cfg.Health.Startup), Drain: time.Duration(d.Drain),
		ReleasePhase: kind == deploy.KindDeploy && rel.ReleaseCommand != nil && !skipRelease, ReleaseTimeout: time.Duration(d.ReleaseTimeout),
		Record: rec, Runtime: &deployRuntime{n: n, a: a}, Logger: n.log.With("app", a.name, "deploy", rec.ID),
	})
	if err != nil {
		a.mu.Unlock()
		return nil, admin.Errorf(admin.ErrBadRequest, "%s %s: %w", kind, a.name, err)
	}
	a.state.Pending = &rec
	a.deploy = drv
	st := a.cloneStateLocked()
	a.mu.Unlock()
	if err := n.saveState(a, st); err != nil {
		n.endDeploy(a)
		return nil, fmt.Errorf("%s %s: %w", kind, a.name, err)
	}
	if err := n.tasks.start(func(ctx context.Context) { drv.Run(ctx) }); err != nil {
		n.endDeploy(a)
		return nil, fmt.Errorf("%s %s: %w", kind, a.name, err)
	}
	return watchOf(drv), nil
}

// endDeploy forgets a deploy that could not start.
func (n *Node) endDeploy(a *app) {
	a.mu.Lock()
	a.deploy = nil
	a.state.Pending = nil
	st := a.cloneStateLocked()
	a.mu.Unlock()
	if err := n.saveState(a, st); err != nil {
		n.log.Error("save releases", "app", a.name, "err", err)
	}
}

// Watch implements admin.Deployer.
func (n *Node) Watch(ctx context.Context, name string) (admin.DeployWatch, error) {
	a, err := n.app(name)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	drv, cd := a.deploy, a.clusterDeploy
	a.mu.Unlock()
	if cd != nil {
		return cd.watch, nil
	}
	if drv == nil {
		return nil, admin.Errorf(admin.ErrNotFound, "no deploy of %s is in progress (tandem history %s shows the past ones)", name, name)
	}
	return watchOf(drv), nil
}

func watchOf(drv *deploy.Driver) admin.DeployWatch {
	return func(from int) ([]admin.DeployEvent, bool, <-chan struct{}) {
		evs, done, changed := drv.Events(from)
		out := make([]admin.DeployEvent, len(evs))
		for i, e := range evs {
			out[i] = admin.DeployEvent{Time: e.Time, Step: e.Step, Instance: e.Instance, Version: e.Version,
				Ready: e.Ready, Want: e.Want, Message: e.Message, Result: string(e.Result)}
		}
		return out, done, changed
	}
}

// saveState writes an app's state; saves of one app are serialised so
// that an older snapshot never overwrites a newer one.
func (n *Node) saveState(a *app, st versionedState) error {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	newer := a.saved > st.Version
	a.mu.Unlock()
	if newer {
		return nil
	}
	if err := n.releases.Save(st.AppState); err != nil {
		return err
	}
	a.mu.Lock()
	a.saved = st.Version
	a.mu.Unlock()
	return nil
}

// History implements admin.Deployer.
func (n *Node) History(ctx context.Context, name string) (admin.History, error) {
	a, err := n.app(name)
	if err != nil {
		return admin.History{}, err
	}
	a.mu.Lock()
	st := a.cloneStateLocked().AppState
	drv := a.deploy
	a.mu.Unlock()
	h := admin.History{App: name, Current: st.Current, Releases: []admin.Release{}, Deploys: []admin.DeployRecord{}}
	for _, r := range st.Releases {
		h.Releases = append(h.Releases, admin.Release{Version: r.Version, Command: r.Command, Dir: r.Dir, EnvKeys: sortedKeys(r.Env),
			ReleaseCommand: r.ReleaseCommand, Created: r.Created, Source: r.Source, Current: r.Version == st.Current})
	}
	now := time.Now()
	for _, r := range st.Deploys {
		h.Deploys = append(h.Deploys, recordOf(r, now))
	}
	if drv != nil {
		h.Deploys = append(h.Deploys, runningRecord(drv, now))
	}
	return h, nil
}

func recordOf(r deploy.Record, now time.Time) admin.DeployRecord {
	return admin.DeployRecord{ID: r.ID, Kind: r.Kind, Who: r.Who, From: r.From, To: r.To, Started: r.Started, Finished: r.Finished,
		Duration: r.Duration(now), Result: string(r.Result), Reason: r.Reason}
}

func runningRecord(drv *deploy.Driver, now time.Time) admin.DeployRecord {
	rec, p := drv.Status()
	dr := recordOf(rec, now)
	dr.Phase, dr.Ready, dr.Want = string(p.Phase), p.Ready, p.Want
	if dr.Result == "" && p.Reason != "" {
		dr.Reason = p.Reason
	}
	return dr
}

// Plan implements admin.Deployer.
func (n *Node) Plan(ctx context.Context, req admin.PlanRequest) (admin.Plan, error) {
	var p admin.Plan
	for _, name := range slices.Sorted(maps.Keys(req.Apps)) {
		a, err := n.app(name)
		if err != nil {
			p.Apps = append(p.Apps, admin.AppPlan{App: name, Note: "not running on this node: adding an app takes a restart of tandem"})
			continue
		}
		s := req.Apps[name]
		a.mu.Lock()
		cur, _ := a.state.CurrentRelease()
		a.mu.Unlock()
		next := deploy.Spec{Command: s.Command, Dir: s.Dir, Env: s.Env, ReleaseCommand: s.ReleaseCommand}
		p.Apps = append(p.Apps, admin.AppPlan{App: name, Current: cur.Version, Changes: cur.Spec().Changes(next)})
	}
	for _, a := range n.apps {
		if _, ok := req.Apps[a.name]; !ok {
			p.Apps = append(p.Apps, admin.AppPlan{App: a.name, Note: "not in the file: removing an app takes a restart of tandem"})
		}
	}
	return p, nil
}

// deployRuntime performs a deploy's actions on one app.
type deployRuntime struct {
	n *Node
	a *app
}

var _ deploy.Runtime = (*deployRuntime)(nil)

func (r *deployRuntime) RunRelease(ctx context.Context, rel deploy.Release, output func(string)) error {
	return r.n.runRelease(ctx, r.a, rel, output)
}

func (r *deployRuntime) Start(ctx context.Context, rel deploy.Release) (string, error) {
	return r.n.startInstance(ctx, r.a, rel)
}

func (r *deployRuntime) Retire(ctx context.Context, instance string, drain time.Duration) error {
	return r.n.retireInstance(ctx, r.a, instance, drain)
}

func (r *deployRuntime) Describe(name string) string {
	var parts []string
	if t, err := r.a.pool.Target(name); err == nil && t.LastError != "" {
		parts = append(parts, "last check: "+t.LastError)
	}
	r.a.mu.Lock()
	i := slices.IndexFunc(r.a.instances, func(in *instance) bool { return in.name == name })
	var proc *supervise.Instance
	if i >= 0 {
		proc = r.a.instances[i].proc
	}
	r.a.mu.Unlock()
	if proc != nil {
		if ex := proc.Status().LastExit; ex != nil && !ex.Requested {
			parts = append(parts, "last exit: "+describeExit(ex))
		}
	}
	return strings.Join(parts, "; ")
}

// Finish records the end of a deploy: a succeeded one makes its release
// current.
func (r *deployRuntime) Finish(rec deploy.Record) error {
	a := r.a
	r.n.deployEnded(a.name, rec)
	a.mu.Lock()
	a.deploy = nil
	a.state.Pending = nil
	a.state.AddRecord(rec)
	if rec.Result == deploy.ResultSucceeded {
		a.state.Current = rec.To
	}
	st := a.cloneStateLocked()
	a.mu.Unlock()
	return r.n.saveState(a, st)
}

// versionedState is a snapshot of an app's state with a number that
// orders snapshots.
type versionedState struct {
	deploy.AppState
	Version uint64
}

// cloneStateLocked snapshots a.state for saving; the caller holds a.mu.
func (a *app) cloneStateLocked() versionedState {
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
