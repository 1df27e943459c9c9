package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The two ways clients find whichever site is up, both parts of the sites
// section: an authoritative DNS responder on every node (sites.dns) and
// the client-side health proxy every edge serves (sites.health_proxy).

// SitesDNS is the authoritative DNS responder every node runs for a zone
// delegated to the nodes: it answers the zone's names with the edge
// addresses of the site that takes clients now (the leading site, or the
// emergency leader). Sites.DNS is nil when the stack file has no dns
// section: no node answers DNS.
type SitesDNS struct {
	// Zone is the domain the parent zone delegates to the nodes, e.g.
	// "go.example.com": lower case, no trailing dot; required.
	Zone string `yaml:"zone"`
	// Names are the host names answered with the serving site's
	// addresses, each the zone itself or a name under it, lower case;
	// default [zone]. Other names in the zone are answered NXDOMAIN.
	Names []string `yaml:"names"`
	// NS are the zone's name servers, as the parent's delegation names
	// them; at least one.
	NS []SitesNameServer `yaml:"ns"`
	// Listen is the host:port queries arrive at, over UDP and TCP; default
	// ":53".
	Listen string `yaml:"listen"`
	// TTL is the time to live of the answers, and of negative answers;
	// whole seconds from 1s to 1h; default 30s. Clients move at most TTL
	// after the answers change, if their resolvers honour it.
	TTL Duration `yaml:"ttl"`
	// Hostmaster is the zone's contact in its SOA record, a mail address;
	// default "hostmaster@<zone>".
	Hostmaster string `yaml:"hostmaster"`
	// Addresses are the IP addresses answered for a site, by site name,
	// in place of those its nodes register (each node's edge address, or
	// its cluster.advertise when the edge listens on every address): a
	// site behind NAT gives its public addresses here. nil when none.
	Addresses map[string][]string `yaml:"addresses"`
	// RateLimit is how many answers per second one client network (an
	// IPv4 /24, an IPv6 /56) gets over UDP; past it most queries are
	// dropped and a few answered truncated, so that real resolvers retry
	// over TCP. 0 sets no limit; default 100.
	RateLimit int `yaml:"rate_limit"`
}

// SitesNameServer is one NS record of the zone.
type SitesNameServer struct {
	// Name is the name server's host name, lower case; it is one of the
	// nodes that run the responder.
	Name string `yaml:"name"`
	// Addresses are the name server's IP addresses, which the responder
	// answers for Name: required when Name is inside the zone (the
	// parent's delegation then needs the same addresses as glue), refused
	// when it is not (the zone that holds Name answers for it).
	Addresses []string `yaml:"addresses"`
}

// SitesHealthProxy is the client-side health proxy: a page, its script
// and a service worker that every node's edge serves under Path on every
// host, which probe the sites from the browser and send it to one that
// answers. Sites.HealthProxy is nil when the stack file has no
// health_proxy section: the edge serves no such path.
type SitesHealthProxy struct {
	// Path is the path prefix the edge keeps for the proxy, before any
	// route; it starts and ends with "/"; default "/.tandem/sites/".
	Path string `yaml:"path"`
	// Origins are the URLs at which each site's edge is reached directly,
	// by site name, e.g. "https://cloud.example.com": where the page
	// probes and where it sends the browser. At least one; every origin
	// https, or every one http (a page served over https cannot probe an
	// http origin), except loopback ones.
	Origins map[string]string `yaml:"origins"`
	// ProbeInterval is how often the page probes again while no site
	// answers; 100ms to 1m; default 2s.
	ProbeInterval Duration `yaml:"probe_interval"`
	// ProbeTimeout is how long a probe may take before its site counts as
	// not answering, and how long the worker waits for a page before it
	// probes the page's site; 100ms to 1m; default 3s.
	ProbeTimeout Duration `yaml:"probe_timeout"`
}

// Defaults and limits of the sites' client sections.
const (
	DefaultSitesHealthPath = "/.tandem/sites/"
	maxSitesDNSNames       = 100
	maxSitesNameServers    = 13 // as many as a referral carries
	maxSitesAddresses      = 32 // per site or name server
	maxSitesRateLimit      = 1_000_000
	minSitesDNSTTL         = Duration(time.Second)
	maxSitesDNSTTL         = Duration(time.Hour)
	minSitesProbe          = Duration(100 * time.Millisecond)
	maxSitesProbe          = Duration(time.Minute)
)

func (d *SitesDNS) setDefaults() {
	d.Listen = ":53"
	d.TTL = Duration(30 * time.Second)
	d.RateLimit = 100
}

func (h *SitesHealthProxy) setDefaults() {
	h.Path = DefaultSitesHealthPath
	h.ProbeInterval = Duration(2 * time.Second)
	h.ProbeTimeout = Duration(3 * time.Second)
}

// sitesClients checks sites.dns and sites.health_proxy (either may be
// nil) and fills the defaults that depend on other fields. leader is
// sites.leader, which the proxy's origins must include; "" leaves that
// unchecked.
func (k *checker) sitesClients(dns *SitesDNS, hp *SitesHealthProxy, leader string) {
	if dns != nil {
		k.sitesDNS("sites.dns", dns)
	}
	if hp != nil {
		k.sitesHealthProxy("sites.health_proxy", hp, leader)
	}
}

func (k *checker) sitesDNS(p string, d *SitesDNS) {
	d.Zone = strings.ToLower(strings.TrimSuffix(d.Zone, "."))
	zoneOK := k.dnsName(p+".zone", d.Zone)
	if d.Zone == "" {
		return // dnsName said it is required; the rest hangs on it
	}
	if len(d.Names) == 0 {
		d.Names = []string{d.Zone}
	}
	if len(d.Names) > maxSitesDNSNames {
		k.c.addf(p+".names", "at most %d names, got %d", maxSitesDNSNames, len(d.Names))
	}
	for i := range d.Names {
		f := fmt.Sprintf("%s.names[%d]", p, i)
		d.Names[i] = strings.ToLower(strings.TrimSuffix(d.Names[i], "."))
		if k.dnsName(f, d.Names[i]) && zoneOK && !inZone(d.Names[i], d.Zone) {
			k.c.addf(f, "%q is not in the zone %q: the responder answers for names in its zone only", d.Names[i], d.Zone)
		} else if slices.Index(d.Names, d.Names[i]) < i {
			k.c.addf(f, "%q is listed twice", d.Names[i])
		}
	}
	k.sitesNameServers(p+".ns", d, zoneOK)
	k.listen(p+".listen", d.Listen)
	for _, f := range []string{"edge.listen", "edge.tls.listen", "admin.listen"} {
		if addr := k.listenOf(f); addr != "" && addrsOverlap(d.Listen, addr) {
			k.c.addf(p+".listen", "%q is the same TCP address as %s (%q)", d.Listen, f, addr)
		}
	}
	if d.TTL < minSitesDNSTTL || d.TTL > maxSitesDNSTTL {
		k.c.addf(p+".ttl", "must be >= %s and <= %s, got %s", minSitesDNSTTL, maxSitesDNSTTL, d.TTL)
	} else if time.Duration(d.TTL)%time.Second != 0 {
		k.c.addf(p+".ttl", "must be whole seconds (a DNS TTL counts seconds), got %s", d.TTL)
	}
	if d.Hostmaster == "" {
		d.Hostmaster = "hostmaster@" + d.Zone
	} else if msg := checkHostmaster(d.Hostmaster); msg != "" {
		k.c.addf(p+".hostmaster", "%s", msg)
	}
	for _, site := range slices.Sorted(maps.Keys(d.Addresses)) {
		f := p + ".addresses." + site
		k.name(f, site)
		k.ipList(f, d.Addresses[site], true)
	}
	k.between(p+".rate_limit", d.RateLimit, 0, maxSitesRateLimit)
}

// sitesNameServers checks the NS records of the zone.
func (k *checker) sitesNameServers(p string, d *SitesDNS, zoneOK bool) {
	switch {
	case len(d.NS) == 0:
		k.c.addf(p, "at least one name server is required: the names the parent zone delegates %q to, e.g. [{ name: ns1.example.com }]", d.Zone)
		return
	case len(d.NS) > maxSitesNameServers:
		k.c.addf(p, "at most %d name servers, got %d", maxSitesNameServers, len(d.NS))
	}
	seen := map[string]bool{}
	for i := range d.NS {
		ns := &d.NS[i]
		f := fmt.Sprintf("%s[%d]", p, i)
		ns.Name = strings.ToLower(strings.TrimSuffix(ns.Name, "."))
		if !k.dnsName(f+".name", ns.Name) {
			continue
		}
		if seen[ns.Name] {
			k.c.addf(f+".name", "%q is listed twice", ns.Name)
		}
		seen[ns.Name] = true
		inside := zoneOK && inZone(ns.Name, d.Zone)
		switch {
		case inside && slices.Contains(d.Names, ns.Name):
			k.c.addf(f+".name", "%q is also in %s.names: a name is answered with the serving site's addresses, a name server with its own", ns.Name, strings.TrimSuffix(p, ".ns"))
		case inside && len(ns.Addresses) == 0:
			k.c.addf(f+".addresses", "required: %q is inside the zone, so the responder answers its addresses (and the parent's delegation carries them as glue)", ns.Name)
		case !inside && len(ns.Addresses) > 0:
			k.c.addf(f+".addresses", "must be left out: %q is outside the zone %q, whose own servers answer its addresses", ns.Name, d.Zone)
		default:
			k.ipList(f+".addresses", ns.Addresses, false)
		}
	}
}

func (k *checker) sitesHealthProxy(p string, h *SitesHealthProxy, leader string) {
	if !strings.HasPrefix(h.Path, "/") || !strings.HasSuffix(h.Path, "/") || len(h.Path) < 2 {
		k.c.addf(p+".path", `must start and end with "/" and not be "/" alone, e.g. %q, got %q`, DefaultSitesHealthPath, h.Path)
	} else if u, err := url.Parse(h.Path); err != nil || u.Path != h.Path || u.RawQuery != "" || strings.Contains(h.Path, "//") || strings.Contains(h.Path, "/../") || strings.Contains(h.Path, "/./") {
		k.c.addf(p+".path", "must be a plain URL path without query, escapes or dot segments, got %q", h.Path)
	} else {
		k.healthPathShadows(p+".path", h.Path)
	}
	if len(h.Origins) == 0 {
		k.c.addf(p+".origins", "at least one origin is required: the URL of each site's edge, by site, e.g. { home: https://home.example.com, cloud: https://cloud.example.com }")
	} else if _, ok := h.Origins[leader]; leader != "" && !ok {
		k.c.addf(p+".origins", "has no origin for the leader site %q: the page could never send browsers to it", leader)
	}
	schemes := map[string]string{} // scheme -> a site using it, loopback origins left out
	for _, site := range sortedKeys(h.Origins) {
		f := p + ".origins." + site
		k.name(f, site)
		u, msg := checkOrigin(h.Origins[site])
		if msg != "" {
			k.c.addf(f, "%s", msg)
			continue
		}
		h.Origins[site] = u.Scheme + "://" + u.Host
		if !isLoopbackHost(u.Hostname()) {
			schemes[u.Scheme] = site
		}
	}
	if len(schemes) > 1 {
		k.c.addf(p+".origins."+schemes["http"], "is http while %s is https: a page served over https cannot probe or reach an http origin (mixed content); serve every site over https", schemes["https"])
	}
	k.probeDuration(p+".probe_interval", h.ProbeInterval)
	k.probeDuration(p+".probe_timeout", h.ProbeTimeout)
}

// healthPathShadows refuses a route whose path lies under the proxy's
// path: the edge serves the proxy first, so the app would never see it.
func (k *checker) healthPathShadows(field, path string) {
	for i, r := range k.st.Edge.Routes {
		if strings.HasPrefix(r.Path, path) || r.Path+"/" == path {
			k.c.addf(field, "%q would hide edge.routes[%d] (path %q): the edge serves the health proxy before any route", path, i, r.Path)
		}
	}
}

func (k *checker) probeDuration(field string, d Duration) {
	if d < minSitesProbe || d > maxSitesProbe {
		k.c.addf(field, "must be >= %s and <= %s, got %s", minSitesProbe, maxSitesProbe, d)
	}
}

// dnsName checks a domain name, lower case without a trailing dot, and
// reports whether it is fine.
func (k *checker) dnsName(field, name string) bool {
	switch {
	case name == "":
		k.c.addf(field, "required: a domain name, e.g. go.example.com")
	case !validHostname(name) || strings.Contains(name, "_"):
		k.c.addf(field, "must be a domain name of letters, digits, '-' and '.', got %q", name)
	case !strings.Contains(name, "."):
		k.c.addf(field, "must be a fully qualified name with at least two labels, got %q", name)
	default:
		return true
	}
	return false
}

// ipList checks a list of IP addresses; empty is an error when required.
func (k *checker) ipList(field string, addrs []string, required bool) {
	if required && len(addrs) == 0 {
		k.c.addf(field, "at least one address is required")
	}
	if len(addrs) > maxSitesAddresses {
		k.c.addf(field, "at most %d addresses, got %d", maxSitesAddresses, len(addrs))
	}
	for i, s := range addrs {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || a.Zone() != "":
			k.c.addf(fmt.Sprintf("%s[%d]", field, i), "must be an IP address, got %q", s)
		case a.IsUnspecified() || a.IsMulticast():
			k.c.addf(fmt.Sprintf("%s[%d]", field, i), "%s is not an address clients can reach", s)
		}
	}
}

// listenOf returns the listen address of one of the other listeners by
// its field path; "" when that listener is off.
func (k *checker) listenOf(field string) string {
	switch field {
	case "edge.listen":
		return k.st.Edge.Listen
	case "edge.tls.listen":
		if t := k.st.Edge.TLS; t != nil {
			return t.Listen
		}
	case "admin.listen":
		return k.st.Admin.Listen
	}
	return ""
}

// inZone reports whether name is zone or a name under it (both lower
// case, no trailing dot).
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// checkHostmaster returns what is wrong with the SOA contact, or "".
func checkHostmaster(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.ContainsAny(local, "@\\ \"") || len(local) > 63 {
		return fmt.Sprintf("must be a mail address, e.g. hostmaster@example.com, got %q", s)
	}
	if !validHostname(domain) || !strings.Contains(domain, ".") {
		return fmt.Sprintf("must be a mail address at a domain name, got %q", s)
	}
	return ""
}

// checkOrigin parses a site's origin: http(s)://host[:port], nothing
// after it but an optional "/".
func checkOrigin(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Sprintf("invalid URL %q", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Sprintf(`must be an http:// or https:// URL, e.g. "https://cloud.example.com", got %q`, s)
	case u.Hostname() == "":
		return nil, fmt.Sprintf("must name a host, got %q", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Sprintf("must be an origin, scheme://host[:port], without credentials, query or fragment, got %q", s)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Sprintf("must be an origin without a path (the proxy's path is added to it), got %q", s)
	case !validHostname(u.Hostname()) && !isIPHost(u.Hostname()):
		return nil, fmt.Sprintf("invalid host %q", u.Hostname())
	}
	u.Host = strings.ToLower(u.Host)
	return u, ""
}

func isIPHost(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == ""
}

// isLoopbackHost reports whether a URL's host is loopback, which browsers
// treat as a secure context even over http.
func isLoopbackHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.IsLoopback()
	}
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
