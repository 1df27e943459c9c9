package sitedns

import (
	"net"
	"net/netip"
	"slices"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Sites says which sites take clients now. The sites core implements it
// with its decisions (which site leads, whether an emergency is on);
// ClusterSites derives it from the cluster's view.
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
// cluster's view: a site is up while at least one of its nodes is
// registered (a node that stops renewing its registration leaves the view
// when its lease expires, cluster.DefaultRegistryTTL), and the first site
// up in Order leads. It knows nothing of fencing or of a planned
// failback's timing: where the sites core runs, its Sites decides.
type ClusterSites struct {
	// View returns the cluster's view; required. While the view is not
	// Synced its nodes are the last known ones, and so are the answers:
	// a node cut from etcd keeps answering as it last knew.
	View func() cluster.View
	// Order lists the sites clients may be sent to, preferred first (the
	// leader site first); sites not listed (a witness) never serve.
	Order []string
	// Static holds addresses by site that replace those its nodes
	// register: a site behind NAT answers with its public addresses.
	Static map[string][]netip.Addr
}

var (
	_ Sites     = (*ClusterSites)(nil)
	_ Addresses = (*ClusterSites)(nil)
)

// Serving returns the sites of Order that have a node in the view, in
// Order's order.
func (c *ClusterSites) Serving() []string {
	v := c.View()
	up := make(map[string]bool, len(c.Order))
	for _, n := range v.Nodes {
		up[n.Info.Site] = true
	}
	var out []string
	for _, s := range c.Order {
		if up[s] {
			out = append(out, s)
		}
	}
	return out
}

// SiteAddrs returns the site's static addresses, or those its registered
// nodes give: the host of a node's edge address, or of its node-to-node
// address (cluster.advertise) when the edge listens on every address.
// Hosts that are names, not addresses, are left out.
func (c *ClusterSites) SiteAddrs(site string) []netip.Addr {
	if a, ok := c.Static[site]; ok {
		return a
	}
	var out []netip.Addr
	for _, n := range c.View().Nodes {
		if n.Info.Site != site {
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
