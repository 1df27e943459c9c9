package admin

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/deploy"
)

// This file answers the deploy, history and maintenance endpoints from
// the node's apps: the only place their types become the API's.

// Apps is the Deployer of a node's apps.
type Apps struct {
	Set *apprun.Set
	// Jobs are the node's jobs as its stack file gave them, for plans.
	Jobs map[string]JobSpec
}

var _ Deployer = Apps{}

// Deploy implements Deployer.
func (x Apps) Deploy(ctx context.Context, app string, req DeployRequest) (DeployWatch, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return nil, err
	}
	dr := apprun.DeployRequest{Who: req.Who, Version: req.Version, Change: deploy.Change{
		Command: req.Command, Dir: req.Dir, SetEnv: req.SetEnv, UnsetEnv: req.UnsetEnv, ReleaseCommand: req.ReleaseCommand}}
	if s := req.Spec; s != nil {
		dr.Spec = &deploy.Spec{Command: s.Command, Dir: s.Dir, Env: s.Env, ReleaseCommand: s.ReleaseCommand}
	}
	w, err := a.Deploy(ctx, dr)
	return watchOf(w), err
}

// Rollback implements Deployer.
func (x Apps) Rollback(ctx context.Context, app string, req RollbackRequest) (DeployWatch, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return nil, err
	}
	w, err := a.Rollback(ctx, req.Who, req.Version)
	return watchOf(w), err
}

// Watch implements Deployer.
func (x Apps) Watch(ctx context.Context, app string) (DeployWatch, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return nil, err
	}
	w, err := a.Watch()
	return watchOf(w), err
}

// watchOf is w as the API's DeployWatch; nil for nil.
func watchOf(w deploy.EventLog) DeployWatch {
	if w == nil {
		return nil
	}
	return func(from int) ([]DeployEvent, bool, <-chan struct{}) {
		evs, done, changed := w.Events(from)
		out := make([]DeployEvent, len(evs))
		for i, e := range evs {
			out[i] = DeployEvent{Time: e.Time, Step: e.Step, Instance: e.Instance, Version: e.Version,
				Ready: e.Ready, Want: e.Want, Message: e.Message, Result: string(e.Result), Node: e.Node}
		}
		return out, done, changed
	}
}

// History implements Deployer.
func (x Apps) History(ctx context.Context, app string) (History, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return History{}, err
	}
	st := a.History()
	h := History{App: app, Current: st.Current, Releases: []Release{}, Deploys: []DeployRecord{}, Cluster: clusterReleaseOf(st.Cluster)}
	for _, r := range st.Releases {
		h.Releases = append(h.Releases, Release{Version: r.Version, Command: r.Command, Dir: r.Dir, EnvKeys: slices.Sorted(maps.Keys(r.Env)),
			ReleaseCommand: r.ReleaseCommand, Created: r.Created, Source: r.Source, Current: r.Version == st.Current})
	}
	now := time.Now()
	for _, d := range st.Deploys {
		h.Deploys = append(h.Deploys, recordOf(d, now))
	}
	return h, nil
}

// recordOf is a deploy as the API shows it.
func recordOf(d apprun.DeployStatus, now time.Time) DeployRecord {
	r := d.Record
	dr := DeployRecord{ID: r.ID, Kind: r.Kind, Who: r.Who, From: r.From, To: r.To, Started: r.Started, Finished: r.Finished,
		Duration: r.Duration(now), Result: string(r.Result), Reason: r.Reason}
	if p := d.Progress; p != nil {
		dr.Phase, dr.Ready, dr.Want = string(p.Phase), p.Ready, p.Want
		if dr.Result == "" && p.Reason != "" {
			dr.Reason = p.Reason
		}
	}
	return dr
}

// clusterReleaseOf is the cluster's release of an app as the API shows
// it; nil when the cluster has none.
func clusterReleaseOf(cs apprun.ClusterStatus) *ClusterRelease {
	d := cs.Desired
	if d.Release.Version == "" {
		return nil
	}
	cr := &ClusterRelease{Version: d.Release.Version, By: d.By, At: d.At, Differ: []NodeRelease{}}
	for _, r := range cs.Differ {
		cr.Differ = append(cr.Differ, NodeRelease{Node: r.Node, Release: r.Release, At: r.At})
	}
	return cr
}

// Plan implements Deployer.
func (x Apps) Plan(ctx context.Context, req PlanRequest) (Plan, error) {
	var p Plan
	for _, name := range slices.Sorted(maps.Keys(req.Apps)) {
		a, err := x.Set.App(name)
		if err != nil {
			p.Apps = append(p.Apps, AppPlan{App: name, Note: "not running on this node: adding an app takes a restart of tandem"})
			continue
		}
		s := req.Apps[name]
		cur, changes := a.Plan(deploy.Spec{Command: s.Command, Dir: s.Dir, Env: s.Env, ReleaseCommand: s.ReleaseCommand})
		p.Apps = append(p.Apps, AppPlan{App: name, Current: cur, Changes: changes})
	}
	for _, a := range x.Set.Apps() {
		if _, ok := req.Apps[a.Name()]; !ok {
			p.Apps = append(p.Apps, AppPlan{App: a.Name(), Note: "not in the file: removing an app takes a restart of tandem"})
		}
	}
	p.Restart = jobChanges(x.Jobs, req.Jobs)
	return p, nil
}

// JobSpecsOf are the jobs of st as a plan compares them.
func JobSpecsOf(st *config.Stack) map[string]JobSpec {
	out := make(map[string]JobSpec, len(st.Jobs))
	for name, j := range st.Jobs {
		out[name] = JobSpec{Schedule: j.Schedule, Command: j.Command, App: j.App, Timezone: j.Timezone,
			Timeout: time.Duration(j.Timeout), Overlap: j.Overlap, Dir: j.Dir, Env: j.Env}
	}
	return out
}

// jobChanges says which jobs the file adds, removes or changes.
func jobChanges(running, file map[string]JobSpec) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(file)) {
		old, ok := running[name]
		switch {
		case !ok:
			out = append(out, "job "+name+" added")
		case !reflect.DeepEqual(old, file[name]):
			out = append(out, "job "+name+" changed")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(running)) {
		if _, ok := file[name]; !ok {
			out = append(out, "job "+name+" removed")
		}
	}
	return out
}

// Pause implements Deployer.
func (x Apps) Pause(ctx context.Context, app string, req PauseRequest) (GateStatus, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return GateStatus{}, err
	}
	g, err := a.Pause(ctx, req.Hold, req.Drain)
	return gateOf(g), err
}

// Maintenance implements Deployer.
func (x Apps) Maintenance(ctx context.Context, app string, req MaintenanceRequest) (GateStatus, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return GateStatus{}, err
	}
	g, err := a.Maintenance(req.Message)
	return gateOf(g), err
}

// Resume implements Deployer.
func (x Apps) Resume(ctx context.Context, app string) (GateStatus, error) {
	a, err := x.Set.App(app)
	if err != nil {
		return GateStatus{}, err
	}
	g, err := a.Resume()
	return gateOf(g), err
}

func gateOf(g apprun.GateStatus) GateStatus {
	return GateStatus{Mode: string(g.Mode), Message: g.Message, Since: g.Since, Hold: g.Hold, Held: g.Held, InFlight: g.InFlight}
}

// AppStatusOf is an app's part of the node's status.
func AppStatusOf(s apprun.Status) AppStatus {
	as := AppStatus{Name: s.Name, Desired: s.Desired, Release: s.Release, Gate: gateOf(s.Gate), Cluster: clusterReleaseOf(s.Cluster)}
	for _, in := range s.Instances {
		p, t := in.Process, in.Target
		is := InstanceStatus{
			Release: in.Release, Name: in.Name, Addr: in.Addr, Zone: t.Zone,
			PID: p.PID, State: string(p.State), Health: t.State.String(), Restarts: p.Restarts, StartedAt: p.StartedAt,
			InFlight: t.InFlight, Requests: t.Requests, CrashLoop: p.CrashLoop, OOMKills: p.OOMKills,
			LastExit: p.LastExit.Describe(), LastError: t.LastError,
		}
		if s.MemoryLimit > 0 {
			if p.MemoryLimitEnforced {
				is.MemoryLimit = s.MemoryLimit
			} else {
				is.MemoryNote = "memory limit not enforced"
			}
		}
		if t.State == balance.StateHealthy {
			as.Healthy++
		}
		as.Instances = append(as.Instances, is)
	}
	if s.Deploy != nil {
		r := recordOf(*s.Deploy, time.Now())
		as.Deploy = &r
	}
	return as
}
