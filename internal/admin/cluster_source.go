package admin

import (
	"context"
	"sort"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// ClusterOf answers the cluster endpoints from the node's cluster: the
// only place its types become the API's.
type ClusterOf struct{ C *cluster.Cluster }

var _ Cluster = ClusterOf{}

// DefaultJoinTokenTTL is how long a join token is valid when the request
// names no time.
const DefaultJoinTokenTTL = time.Hour

// MaxJoinTokenTTL is the longest a join token may be valid.
const MaxJoinTokenTTL = cluster.MaxJoinTokenTTL

// Members implements Cluster.
func (c ClusterOf) Members(ctx context.Context) ([]ClusterMember, error) {
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	ms, err := c.C.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, ClusterMember{Name: m.Name, ID: m.ID, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.Learner, Leader: m.Leader, Healthy: m.Healthy})
	}
	return out, nil
}

// JoinToken implements Cluster.
func (c ClusterOf) JoinToken(ctx context.Context, ttl time.Duration) (JoinToken, error) {
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	tok, err := c.C.CreateJoinToken(ctx, ttl)
	if err != nil {
		return JoinToken{}, err
	}
	return JoinToken{Token: tok, Expires: time.Now().Add(ttl)}, nil
}

// RemoveMember implements Cluster.
func (c ClusterOf) RemoveMember(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	return c.C.RemoveMember(ctx, name)
}

// ClusterView is what the node's status shows of the cluster.
type ClusterView struct {
	Name     string
	Self     string
	Embedded bool // the node runs an etcd member
	Health   func() cluster.Health
	View     func() cluster.View
}

// Status is the cluster part of the node's status.
func (c ClusterView) Status() *ClusterStatus {
	h := c.Health()
	v := c.View()
	cs := &ClusterStatus{
		Name: c.Name, Embedded: c.Embedded,
		Quorum: h.Quorum, QuorumSince: h.Since, Leader: h.Leader, Error: h.Err, Alarm: h.Alarm,
		Disk: DiskStatus{Dir: h.Disk.Dir, FreeBytes: h.Disk.Free, FloorBytes: h.Disk.Floor, Low: h.Disk.Low,
			Since: h.Disk.Since, WritesRefused: h.Disk.Refused, Error: h.Disk.Err},
		Synced: v.Synced, SyncedAt: v.SyncedAt, Nodes: []NodeStatus{},
	}
	for name, nv := range v.Nodes {
		ns := NodeStatus{
			Name: name, Zone: nv.Info.Zone, Site: nv.Info.Site, Version: nv.Info.Version,
			Addr: nv.Info.NodeAddr, Edge: nv.Info.Edge, Admin: nv.Info.Admin, Started: nv.Info.Started,
			Self: name == c.Self, Apps: []NodeApp{},
		}
		for app, ins := range nv.Apps {
			na := NodeApp{Name: app, Instances: []NodeInstance{}}
			for _, in := range ins {
				if in.State == cluster.InstanceHealthy {
					na.Healthy++
				}
				na.Instances = append(na.Instances, NodeInstance{Name: in.Name, Release: in.Release, State: in.State})
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
