package sitedns

import (
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Sites says which sites take clients now. ClusterSites implements it
// from the cluster's view and the sites core's decision; a test or
// another core may give its own.
type Sites interface {
	// Serving returns the sites clients should be sent to now, best
	// first: the leading site (the emergency leader during an emergency),
	// then the other sites that are up. Empty when this node knows of
	// none. The caller does not modify the slice.
	Serving() []string
}

// Addresses gives the addresses at which clients reach a site's edges.
type Addresses interface {
	// SiteAddrs returns the site's addresses, sorted; nil when none is
	// known. The caller does not modify the slice.
	SiteAddrs(site string) []netip.Addr
}

// ClusterSites derives the serving sites and their addresses from the
// cluster's view and, where it runs, the sites core's choice of the
// leading site. A site is up while at least one of its nodes with an edge
// is registered (a node that stops renewing its registration leaves the
// view when its lease expires, cluster.DefaultRegistryTTL; a witness runs
// no edge and so never serves).
type ClusterSites struct {
	// View returns the cluster's view; required. While the view is not
	// Synced its nodes are the last known ones, and so are the answers:
	// a node cut from etcd keeps answering as it last knew.
	View func() cluster.View
	// Leading returns the site that leads now as the sites core decides
	// (the emergency leader during an emergency), "" when it cannot say;
	// nil when no core runs. It is called for every query: it must be
	// cheap.
	Leading func() string
	// Avoid returns the site the sites core has declared unreachable (the
	// leader site during an emergency), "" for none; nil when no core
	// runs. That site comes last while it still looks up: a node's
	// registration outlives the quorum's decision by its lease, and a
	// site that returns serves again only after the failback. Called for
	// every query: it must be cheap.
	Avoid func() string
	// Order lists the sites preferred after the leading one, the leader
	// site first; the other sites up follow by name.
	Order []string
	// Static holds addresses by site that replace those its nodes
	// register: a site behind NAT answers with its public addresses.
	Static map[string][]netip.Addr
}

var (
	_ Sites     = (*ClusterSites)(nil)
	_ Addresses = (*ClusterSites)(nil)
)

// Serving returns the sites up: the leading one first, then those of
// Order, then the others by name; the avoided one last.
func (c *ClusterSites) Serving() []string {
	up := map[string]bool{}
	for _, n := range c.View().Nodes {
		if n.Info.Edge != "" {
			up[n.Info.Site] = true
		}
	}
	var out []string
	add := func(site string) {
		if up[site] {
			out = append(out, site)
			delete(up, site)
		}
	}
	avoid := ""
	if c.Avoid != nil {
		avoid = c.Avoid()
	}
	avoided := up[avoid]
	delete(up, avoid)
	if c.Leading != nil {
		add(c.Leading())
	}
	for _, s := range c.Order {
		add(s)
	}
	for _, s := range slices.Sorted(maps.Keys(up)) {
		add(s)
	}
	if avoided {
		out = append(out, avoid)
	}
	return out
}

// SiteAddrs returns the site's static addresses, or those its registered
// nodes with an edge give: the host of the edge's address, or of the
// node-to-node address (cluster.advertise) when the edge listens on every
// address. Hosts that are names, not addresses, are left out.
func (c *ClusterSites) SiteAddrs(site string) []netip.Addr {
	if a, ok := c.Static[site]; ok {
		return a
	}
	var out []netip.Addr
	for _, n := range c.View().Nodes {
		if n.Info.Site != site || n.Info.Edge == "" {
			continue
		}
		a := hostAddr(n.Info.Edge)
		if !a.IsValid() || a.IsUnspecified() {
			a = hostAddr(n.Info.NodeAddr)
		}
		if a.IsValid() && !a.IsUnspecified() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// hostAddr returns the IP address in a host:port; invalid if the host is
// a name or the text is not host:port.
func hostAddr(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
