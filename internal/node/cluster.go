package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// controlTimeout bounds one call to the control plane made on behalf of
// a request (publishing a purge, creating a token): without quorum etcd
// would otherwise hold the caller until its own deadline.
const controlTimeout = 3 * time.Second

// remotePrefix names the balancer targets that stand for other nodes.
const remotePrefix = "node/"

// clusterPart is the node's membership of the cluster: the etcd member (or
// client of an external etcd), the registration of this node and its
// instances, the view of every other node, and the purge log.
type clusterPart struct {
	c      *cluster.Cluster
	reg    *cluster.Registry // set by openCluster
	view   *cluster.Viewer   // set by openCluster
	purges *cluster.PurgeLog // set by openCluster

	changed chan struct{} // capacity 1: instances changed, publish them
	leaving atomic.Bool   // the node is stopping: publish no instance
}

func (n *Node) newCluster() (*cluster.Cluster, error) {
	cl := n.st.Cluster
	o := cluster.Options{
		Name: cl.Name, Node: cl.Node, Zone: cl.Zone, Site: cl.Site,
		DataDir:   cl.DataDir,
		Advertise: cl.Advertise,
		PeerPort:  cl.PeerPort, ClientPort: cl.ClientPort, NodePort: cl.NodePort,
		Join:        n.opts.Join,
		NodeHandler: n.peerHandler(),
		Logger:      n.log.With("part", "cluster"),
	}
	if e := cl.Etcd; e != nil {
		o.External = &cluster.External{Endpoints: e.Endpoints, CAFile: e.CA, CertFile: e.Cert, KeyFile: e.Key}
	}
	return cluster.New(o)
}

// openCluster brings the control plane up (founding, joining or rejoining
// the cluster) and builds the parts that need its client.
func (n *Node) openCluster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := n.cl.c.Open(ctx); err != nil {
		return fmt.Errorf("open cluster: %w", err)
	}
	cl := n.cl.c
	log := n.log.With("part", "cluster")
	n.cl.reg = cluster.NewRegistry(cluster.RegistryOptions{
		Client: cl.Client(), Prefix: cl.Prefix(), Logger: log,
		Self: cluster.NodeInfo{
			Name: n.st.Cluster.Node, Zone: n.st.Cluster.Zone, Site: n.st.Cluster.Site,
			Version: n.opts.Version, NodeAddr: cl.NodeAddr(), Edge: n.edgeAddr(), Admin: n.admin.Addr().String(),
			Started: n.started,
		},
	})
	n.cl.view = cluster.NewViewer(cluster.ViewerOptions{Client: cl.Client(), Prefix: cl.Prefix(), Logger: log})
	n.cl.purges = cluster.NewPurgeLog(cluster.PurgeLogOptions{
		Client: cl.Client(), Prefix: cl.Prefix(), Node: n.st.Cluster.Node,
		CursorFile: filepath.Join(n.st.Cluster.DataDir, "purge-cursor.json"), Logger: log,
	})
	return nil
}

// openTimeout bounds founding, joining or rejoining the cluster at start.
const openTimeout = 2 * time.Minute

// edgeAddr is the edge's first listen address, for status pages.
func (n *Node) edgeAddr() string {
	for _, a := range n.edge.Addrs() {
		return a.String()
	}
	return ""
}

// runCluster runs the cluster's parts until ctx ends.
func (n *Node) runCluster(run func(string, func(context.Context) error)) {
	run("cluster", n.cl.c.Run)
	run("registry", n.cl.reg.Run)
	run("cluster view", n.cl.view.Run)
	run("purge log", func(ctx context.Context) error {
		return n.cl.purges.Follow(ctx, n.applyRemotePurge, n.dropCache)
	})
	run("remote targets", n.followView)
	run("instance publisher", n.publishLoop)
}

// publishInterval is how often instances are published even when no
// health change asked for it (new and retired instances, releases).
const publishInterval = time.Second

// publishLoop publishes every app's instances when they change, and every
// publishInterval; the registry writes only what differs.
func (n *Node) publishLoop(ctx context.Context) error {
	t := time.NewTicker(publishInterval)
	defer t.Stop()
	for {
		if !n.cl.leaving.Load() {
			for _, a := range n.apps {
				n.publishInstances(a)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.cl.changed:
		}
	}
}

// instancesChanged asks publishLoop to publish now. It never blocks.
func (n *Node) instancesChanged() {
	select {
	case n.cl.changed <- struct{}{}:
	default:
	}
}

// leaveCluster withdraws this node's instances from the other nodes'
// balancers: the node is stopping.
func (n *Node) leaveCluster() {
	if n.cl.reg == nil || n.cl.leaving.Swap(true) {
		return
	}
	for _, a := range n.apps {
		n.cl.reg.SetApp(a.name, nil)
	}
}

func (n *Node) applyRemotePurge(rev int64, origin string, b []byte) {
	if n.cache == nil {
		return
	}
	var ev httpcache.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		n.log.Error("remote purge not applied: undecodable", "origin", origin, "revision", rev, "err", err)
		return
	}
	k, err := n.cache.Apply(ev)
	if err != nil {
		n.log.Error("remote purge not applied", "origin", origin, "revision", rev, "err", err)
		return
	}
	n.log.Debug("remote purge applied", "origin", origin, "revision", rev, "kind", string(ev.Kind), "objects", k)
}

// catchUpTimeout bounds the wait at start for the purges other nodes sent
// while this one was down.
const catchUpTimeout = 10 * time.Second

// awaitPurges holds the edge back until the purges this node missed while
// down are applied: its cache (on disk, it survives restarts) may hold
// objects purged meanwhile. If they cannot be read in time, the cache is
// dropped instead.
func (n *Node) awaitPurges(ctx context.Context) {
	if n.cache == nil {
		return
	}
	select {
	case <-n.cl.purges.CaughtUp():
	case <-ctx.Done():
	case <-time.After(catchUpTimeout):
		n.log.Warn("purges missed while down not read in time", "waited", catchUpTimeout.String())
		n.dropCache()
	}
}

// dropCache empties the cache: the node missed purges it can no longer
// replay, and any stored object might be one of them.
func (n *Node) dropCache() {
	if n.cache == nil {
		return
	}
	k, err := n.cache.Apply(httpcache.Event{Kind: httpcache.PurgeAll, Time: time.Now()})
	if err != nil {
		n.log.Error("drop cache after missed purges", "err", err)
		return
	}
	n.log.Warn("dropped the whole cache: purges were missed past the cluster's history", "objects", k)
}

// publishInstances tells the other nodes this app's instances and their
// health here. It never blocks.
func (n *Node) publishInstances(a *app) {
	if n.cl.reg == nil {
		return
	}
	a.mu.Lock()
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
	a.mu.Unlock()
	n.cl.reg.SetApp(a.name, list)
}

// followView keeps every app's remote targets (one per other node that
// runs the app) in step with the cluster view. Without quorum the view
// stays as it last was, and so do the targets: losing the control plane
// must not take traffic away from instances that still serve.
func (n *Node) followView(ctx context.Context) error {
	for {
		n.syncRemoteTargets(n.cl.view.View())
		select {
		case <-ctx.Done():
			return nil
		case <-n.cl.view.Changes():
		}
	}
}

func (n *Node) syncRemoteTargets(v cluster.View) {
	self := n.st.Cluster.Node
	for _, a := range n.apps {
		want := make(map[string]balance.Target)
		healthy := make(map[string]int)
		for name, nv := range v.Nodes {
			if name == self {
				continue
			}
			ins, ok := nv.Apps[a.name]
			if !ok {
				continue
			}
			id := remotePrefix + name
			want[id] = balance.Target{ID: id, Addr: nv.Info.NodeAddr, Zone: nv.Info.Zone, Remote: true}
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
			if old, ok := have[id]; ok && old.Addr != t.Addr {
				a.pool.Remove(id)
				delete(have, id)
			}
			if _, ok := have[id]; !ok {
				if err := a.pool.Add(t); err != nil {
					n.log.Error("add remote target", "app", a.name, "target", id, "err", err)
					continue
				}
			}
			a.pool.SetHealth(id, healthy[id] > 0)
			a.pool.SetWeight(id, max(1, healthy[id]))
		}
		for id := range have {
			if _, ok := want[id]; !ok {
				a.pool.Remove(id)
			}
		}
	}
}

// peerHandler serves requests other nodes send to this node's instances.
// The node listener has checked the caller's certificate; the request was
// routed, cached and counted at the edge that received it, so here it only
// goes to a local instance of the app it names. Requests that name no app
// are the other nodes' own (peerControl).
func (n *Node) peerHandler() http.Handler {
	proxies := make(map[string]http.Handler, len(n.apps))
	for _, a := range n.apps {
		proxies[a.name] = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme = "http"
				pr.Out.URL.Host = a.name
				pr.Out.Host = pr.In.Host
				// The sending edge set these for the client; keep them.
				for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
					if v := pr.In.Header.Values(h); len(v) > 0 {
						pr.Out.Header[h] = v
					}
				}
				pr.Out.Header.Del(balance.AppHeader)
			},
			Transport: a.pool.LocalTransport(),
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				status := http.StatusBadGateway
				switch {
				case errors.Is(err, balance.ErrNoTarget):
					status = http.StatusServiceUnavailable
				case errors.Is(err, balance.ErrUpstreamTimeout):
					status = http.StatusGatewayTimeout
				}
				n.log.Warn("forwarded request failed", "app", a.name, "err", err)
				w.WriteHeader(status)
			},
		}
	}
	control := n.peerControl()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Header.Get(balance.AppHeader)
		if name == "" {
			control.ServeHTTP(w, r) // a node's request, not app traffic
			return
		}
		p, ok := proxies[name]
		if !ok {
			http.Error(w, "no such app on this node", http.StatusNotFound)
			return
		}
		p.ServeHTTP(w, r)
	})
}

// clusterStatus is the cluster part of admin.Status.
func (n *Node) clusterStatus() *admin.ClusterStatus {
	if n.cl.c == nil || n.cl.view == nil {
		return nil
	}
	h := n.cl.c.Health()
	v := n.cl.view.View()
	cs := &admin.ClusterStatus{
		Name: n.st.Cluster.Name, Embedded: n.st.Cluster.Etcd == nil,
		Quorum: h.Quorum, QuorumSince: h.Since, Leader: h.Leader, Error: h.Err,
		Synced: v.Synced, SyncedAt: v.SyncedAt, Nodes: []admin.NodeStatus{},
	}
	for name, nv := range v.Nodes {
		ns := admin.NodeStatus{
			Name: name, Zone: nv.Info.Zone, Site: nv.Info.Site, Version: nv.Info.Version,
			Addr: nv.Info.NodeAddr, Edge: nv.Info.Edge, Admin: nv.Info.Admin, Started: nv.Info.Started,
			Self: name == n.st.Cluster.Node, Apps: []admin.NodeApp{},
		}
		for app, ins := range nv.Apps {
			na := admin.NodeApp{Name: app, Instances: []admin.NodeInstance{}}
			for _, in := range ins {
				if in.State == cluster.InstanceHealthy {
					na.Healthy++
				}
				na.Instances = append(na.Instances, admin.NodeInstance{Name: in.Name, Release: in.Release, State: in.State})
			}
			ns.Apps = append(ns.Apps, na)
		}
		sort.Slice(ns.Apps, func(i, j int) bool { return ns.Apps[i].Name < ns.Apps[j].Name })
		cs.Nodes = append(cs.Nodes, ns)
	}
	sort.Slice(cs.Nodes, func(i, j int) bool {
		if cs.Nodes[i].Zone != cs.Nodes[j].Zone {
			return cs.Nodes[i].Zone < cs.Nodes[j].Zone
		}
		return cs.Nodes[i].Name < cs.Nodes[j].Name
	})
	return cs
}

var _ admin.Cluster = clusterAdmin{}

// clusterAdmin answers the admin API's cluster endpoints.
type clusterAdmin struct{ n *Node }

func (c clusterAdmin) Members(ctx context.Context) ([]admin.ClusterMember, error) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	ms, err := c.n.cl.c.Members(ctx)
	if err != nil {
		return nil, controlErr(err)
	}
	out := make([]admin.ClusterMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, admin.ClusterMember{Name: m.Name, ID: m.ID, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.Learner, Leader: m.Leader, Healthy: m.Healthy})
	}
	return out, nil
}

func (c clusterAdmin) JoinToken(ctx context.Context, ttl time.Duration) (admin.JoinToken, error) {
	if ttl == 0 {
		ttl = time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	tok, err := c.n.cl.c.CreateJoinToken(ctx, ttl)
	if err != nil {
		return admin.JoinToken{}, controlErr(err)
	}
	return admin.JoinToken{Token: tok, Expires: time.Now().Add(ttl)}, nil
}

func (c clusterAdmin) RemoveMember(ctx context.Context, name string) error {
	if nv, ok := c.n.cl.view.View().Nodes[name]; ok {
		return admin.Errorf(admin.ErrConflict, "remove %s: the node is running (registered from %s, zone %s); stop it first (it leaves the view at once, or 10s after a crash), then remove it", name, nv.Info.NodeAddr, nv.Info.Zone)
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	return controlErr(c.n.cl.c.RemoveMember(ctx, name))
}

// controlErr marks a control-plane call that ran out of time as the
// control plane being unavailable.
func controlErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return admin.Errorf(admin.ErrUnavailable, "%v: etcd did not answer in time (no quorum?)", err)
	}
	return err
}
