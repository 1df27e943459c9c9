package apprun

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
)

// RemotePrefix names the balancer targets that stand for other nodes:
// node/<name>.
const RemotePrefix = "node/"

// publishInterval is how often instances are published even when no
// change asked for it; the registry writes only what differs.
const publishInterval = time.Second

// Registry is where this node publishes its instances; *cluster.Registry
// implements it.
type Registry interface {
	SetApp(app string, instances []cluster.InstanceInfo)
}

// View is the cluster's view of every node; *cluster.Viewer implements
// it.
type View interface {
	View() cluster.View
	Changes() <-chan struct{}
}

// Presence is the apps' place in the cluster: it publishes this node's
// instances and their health, so other nodes send them requests, and
// keeps one remote target per other node that runs an app in the app's
// pool, weighted by that node's healthy instances. Without quorum the
// view stays as it last was, and so do the targets: losing the control
// plane must not take traffic away from instances that still serve.
type Presence struct {
	set     *Set
	self    string // this node's name
	reg     Registry
	view    View
	changed <-chan struct{}
	log     *slog.Logger
	leaving atomic.Bool // the node is stopping: publish no instance
}

// NewPresence returns the presence of set's apps as node self. A value
// on changed (the apps' Notify channel) publishes at once.
func NewPresence(set *Set, self string, reg Registry, view View, changed <-chan struct{}, log *slog.Logger) *Presence {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Presence{set: set, self: self, reg: reg, view: view, changed: changed, log: log}
}

// Notify returns an OnChange for the apps that sends, without blocking,
// on ch (capacity 1), for a Presence to read.
func Notify(ch chan<- struct{}) func() {
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run publishes the instances and follows the view until ctx ends.
func (p *Presence) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.follow(ctx)
	}()
	t := time.NewTicker(publishInterval)
	defer t.Stop()
	for {
		if !p.leaving.Load() {
			for _, a := range p.set.apps {
				p.reg.SetApp(a.name, a.instanceInfos())
			}
		}
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
		case <-p.changed:
		}
	}
}

// Leave withdraws this node's instances from the other nodes' balancers:
// the node is stopping.
func (p *Presence) Leave() {
	if p.leaving.Swap(true) {
		return
	}
	for _, a := range p.set.apps {
		p.reg.SetApp(a.name, nil)
	}
}

// follow keeps every app's remote targets in step with the view.
func (p *Presence) follow(ctx context.Context) {
	for {
		v := p.view.View()
		for _, a := range p.set.apps {
			a.syncRemoteTargets(p.self, v)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.view.Changes():
		}
	}
}

// instanceInfos lists the app's instances and their health for the
// registry.
func (a *App) instanceInfos() []cluster.InstanceInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := make([]cluster.InstanceInfo, 0, len(a.instances))
	for _, in := range a.instances {
		state := cluster.InstanceStarting
		if t, err := a.pool.Target(in.name); err == nil {
			switch {
			case in.retiring:
				state = cluster.InstanceDraining
			case t.State == balance.StateHealthy:
				state = cluster.InstanceHealthy
			case t.State == balance.StateUnhealthy:
				state = cluster.InstanceUnhealthy
			}
		}
		list = append(list, cluster.InstanceInfo{Name: in.name, Release: in.version, State: state})
	}
	return list
}

// syncRemoteTargets makes the pool's remote targets those of v: one per
// other node that runs the app.
func (a *App) syncRemoteTargets(self string, v cluster.View) {
	want := make(map[string]balance.Target)
	healthy := make(map[string]int)
	for name, nv := range v.Nodes {
		ins, ok := nv.Apps[a.name]
		if name == self || !ok {
			continue
		}
		id := RemotePrefix + name
		want[id] = balance.Target{ID: id, Addr: nv.Info.NodeAddr, Zone: nv.Info.Zone, Site: nv.Info.Site, Remote: true}
		for _, in := range ins {
			if in.State == cluster.InstanceHealthy {
				healthy[id]++
			}
		}
	}
	have := make(map[string]balance.TargetStatus)
	for _, t := range a.pool.Targets() {
		if t.Remote {
			have[t.ID] = t
		}
	}
	for id, t := range want {
		if old, ok := have[id]; ok && (old.Addr != t.Addr || old.Site != t.Site) {
			a.pool.Remove(id)
			delete(have, id)
		}
		if _, ok := have[id]; !ok {
			if err := a.pool.Add(t); err != nil {
				a.log.Error("add remote target", "target", id, "err", err)
				continue
			}
		}
		a.pool.SetHealth(id, healthy[id] > 0)
		a.pool.SetWeight(id, max(1, healthy[id]))
		if healthy[id] > 0 {
			a.gate.Ready() // that node takes the requests while none is healthy here
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			a.pool.Remove(id)
		}
	}
}
