package apprun

import (
	"maps"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// Status is a snapshot of the app on this node.
type Status struct {
	Name    string
	Desired int    // instances wanted on this node
	Release string // the current release; "" before the first
	// MemoryLimit is the instances' memory limit in bytes; 0 for none.
	MemoryLimit int64
	Instances   []InstanceStatus
	// Deploy is the deploy in progress, else the last one; nil before
	// any.
	Deploy  *DeployStatus
	Gate    GateStatus
	Cluster ClusterStatus
}

// InstanceStatus is one instance: its process and its balancer target.
type InstanceStatus struct {
	Name, Release, Addr string
	Process             supervise.Status
	Target              balance.TargetStatus
}

// DeployStatus is a deploy's record and, while it runs, its progress.
type DeployStatus struct {
	deploy.Record
	Progress *deploy.Progress // nil once it ended
}

// ClusterStatus is the cluster's release of the app and the nodes that
// recorded running another one, as last read from the cluster.
type ClusterStatus struct {
	Desired Desired   // zero when the cluster has none (or was not read)
	Differ  []Running // nodes, by name, whose release is not Desired's
	Read    time.Time // when it was read; zero never
}

// Status returns a snapshot of the app.
func (a *App) Status() Status {
	targets := make(map[string]balance.TargetStatus)
	for _, t := range a.pool.Targets() {
		targets[t.ID] = t
	}
	a.mu.Lock()
	instances := slices.Clone(a.instances)
	a.mu.Unlock()
	s := Status{Name: a.name, Desired: a.wantInstances(), MemoryLimit: a.opts.Process.MemoryLimit}
	for _, in := range instances {
		s.Instances = append(s.Instances, InstanceStatus{Name: in.name, Release: in.version, Addr: in.addr,
			Process: in.proc.Status(), Target: targets[in.name]})
	}
	a.mu.Lock()
	s.Release = a.state.Current
	drv := a.deploy
	if n := len(a.state.Deploys); n > 0 {
		s.Deploy = &DeployStatus{Record: a.state.Deploys[n-1]}
	}
	s.Cluster = a.clusterStatusLocked()
	a.mu.Unlock()
	if drv != nil {
		s.Deploy = runningStatus(drv)
	}
	s.Gate = a.GateStatus()
	return s
}

// clusterStatusLocked compares the nodes' releases with the cluster's.
func (a *App) clusterStatusLocked() ClusterStatus {
	d := a.desired
	cs := ClusterStatus{Desired: d.current, Read: d.read}
	if d.current.Release.Version == "" {
		return cs
	}
	for _, r := range d.running {
		if r.Release != d.current.Release.Version {
			cs.Differ = append(cs.Differ, r)
		}
	}
	return cs
}

func runningStatus(drv *deploy.Driver) *DeployStatus {
	rec, p := drv.Status()
	return &DeployStatus{Record: rec, Progress: &p}
}

// History is the app's kept releases and past deploys.
type History struct {
	Current  string
	Releases []deploy.Release // oldest first
	Deploys  []DeployStatus   // oldest first; a running one last
	Cluster  ClusterStatus
}

// History returns the app's kept releases and deploys.
func (a *App) History() History {
	a.mu.Lock()
	st := a.cloneStateLocked().AppState
	drv := a.deploy
	cs := a.clusterStatusLocked()
	a.mu.Unlock()
	h := History{Current: st.Current, Releases: st.Releases, Cluster: cs}
	for _, r := range st.Deploys {
		h.Deploys = append(h.Deploys, DeployStatus{Record: r})
	}
	if drv != nil {
		h.Deploys = append(h.Deploys, *runningStatus(drv))
	}
	return h
}

// Plan says what deploying next would change of the current release.
func (a *App) Plan(next deploy.Spec) (current string, changes []string) {
	a.mu.Lock()
	cur, _ := a.state.CurrentRelease()
	a.mu.Unlock()
	return cur.Version, cur.Spec().Changes(next)
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
