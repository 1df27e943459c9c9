package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/sitedns"
	"github.com/tandem-run/tandem/internal/siteproxy"
	"github.com/tandem-run/tandem/internal/sites"
)

// sitesClients are the two ways clients find whichever site is up: the
// DNS responder (sites.dns) and the health proxy the edge serves
// (sites.health_proxy). Either is nil when its section is absent; a nil
// *sitesClients has neither.
type sitesClients struct {
	dns   *sitedns.Responder
	proxy *siteproxy.Proxy
}

// sitesClientsInput is what the sites' client parts need besides their
// sections.
type sitesClientsInput struct {
	// Leader is the site that normally leads (sites.leader): preferred
	// whenever it is up and the core names no other.
	Leader string
	// Leading is the sites core's choice of the site that leads now (the
	// emergency leader during an emergency), "" when it cannot say; nil
	// when no core runs. Called for every DNS query and probe.
	Leading func() string
	// Unreachable is the sites core's site declared unreachable (the
	// leader site during an emergency), served last; nil when no core
	// runs.
	Unreachable func() string
	// View is the cluster's view: which sites are up, and their nodes'
	// addresses.
	View func() cluster.View
}

// buildSitesClients builds the client parts of the stack's sites
// section; nil without it, or without dns and health_proxy. The site that
// takes clients now, and the one declared unreachable, are the sites
// controller's (built later: buildSites), read at each query.
func (n *Node) buildSitesClients() (*sitesClients, error) {
	s := n.st.Sites
	if s == nil {
		return nil, nil
	}
	ctl := func(f func(*sites.Controller) string) func() string {
		return func() string {
			if n.sites == nil || n.sites.ctl == nil {
				return ""
			}
			return f(n.sites.ctl)
		}
	}
	in := sitesClientsInput{Leader: s.Leader, View: n.view.View,
		Leading: ctl((*sites.Controller).Leading), Unreachable: ctl((*sites.Controller).Unreachable)}
	return newSitesClients(n.st, s.DNS, s.HealthProxy, in, n.log)
}

// newSitesClients builds the responder and the proxy of the sites
// section's client parts; dns or hp nil leaves that part out. It binds
// nothing.
func newSitesClients(st *config.Stack, dns *config.SitesDNS, hp *config.SitesHealthProxy, in sitesClientsInput, log *slog.Logger) (*sitesClients, error) {
	if dns == nil && hp == nil {
		return nil, nil
	}
	view := &sitedns.ClusterSites{View: in.View, Leading: in.Leading, Avoid: in.Unreachable}
	if in.Leader != "" {
		view.Order = []string{in.Leader}
	}
	s := &sitesClients{}
	var err error
	if dns != nil {
		if s.dns, err = newSitesDNS(dns, view, log); err != nil {
			return nil, fmt.Errorf("sites dns: %w", err)
		}
	}
	if hp != nil {
		s.proxy, err = siteproxy.New(siteproxy.Options{
			Prefix: hp.Path, Site: st.Cluster.Site, Node: st.Cluster.Node, Origins: hp.Origins, Sites: view,
			ProbeInterval: time.Duration(hp.ProbeInterval), ProbeTimeout: time.Duration(hp.ProbeTimeout),
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newSitesDNS builds the responder; view says which sites serve and gives
// their addresses, with the section's own in place of the nodes' where it
// has some.
func newSitesDNS(d *config.SitesDNS, view *sitedns.ClusterSites, log *slog.Logger) (*sitedns.Responder, error) {
	static, err := siteAddrs(d.Addresses)
	if err != nil {
		return nil, err
	}
	view.Static = static
	ns, err := nameServers(d.NS)
	if err != nil {
		return nil, err
	}
	return sitedns.New(sitedns.Options{
		Zone: d.Zone, Names: d.Names, NameServers: ns, Hostmaster: d.Hostmaster,
		TTL: time.Duration(d.TTL), Listen: d.Listen, RateLimit: d.RateLimit,
		Sites: view, Addresses: view, Logger: log.With("part", "dns"),
	})
}

// builtins are the paths the edge serves for the sites: the health
// proxy's; nil when there is none.
func (s *sitesClients) builtins() map[string]http.Handler {
	if s == nil || s.proxy == nil {
		return nil
	}
	return map[string]http.Handler{s.proxy.Prefix(): s.proxy}
}

// listen binds the responder's sockets, beside the edge's and the admin
// API's, so that a port in use fails the start before anything runs.
func (s *sitesClients) listen() error {
	if s == nil || s.dns == nil {
		return nil
	}
	return s.dns.Listen()
}

// close releases the sockets of a responder that will not run.
func (s *sitesClients) close() {
	if s != nil && s.dns != nil {
		s.dns.Close()
	}
}

// run runs the responder as one of the node's parts.
func (s *sitesClients) run(run func(name string, f func(context.Context) error)) {
	if s != nil && s.dns != nil {
		run("dns", s.dns.Run)
	}
}

// nameServers maps the NS records.
func nameServers(ns []config.SitesNameServer) ([]sitedns.NameServer, error) {
	out := make([]sitedns.NameServer, 0, len(ns))
	for _, n := range ns {
		addrs, err := parseAddrs(n.Addresses)
		if err != nil {
			return nil, fmt.Errorf("name server %s: %w", n.Name, err)
		}
		out = append(out, sitedns.NameServer{Name: n.Name, Addrs: addrs})
	}
	return out, nil
}

// siteAddrs maps sites.dns.addresses; nil when there are none.
func siteAddrs(m map[string][]string) (map[string][]netip.Addr, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string][]netip.Addr, len(m))
	for site, ss := range m {
		addrs, err := parseAddrs(ss)
		if err != nil {
			return nil, fmt.Errorf("addresses of site %s: %w", site, err)
		}
		out[site] = addrs
	}
	return out, nil
}

func parseAddrs(ss []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
