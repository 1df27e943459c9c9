package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sitesClientsDoc holds the two sections as the sites section does.
type sitesClientsDoc struct {
	DNS         *SitesDNS         `yaml:"dns"`
	HealthProxy *SitesHealthProxy `yaml:"health_proxy"`
}

// parseSitesClients decodes src as the body of a sites section into the
// two client sections and checks them as Parse would, against a stack
// whose own part is stack (appended to base), with leader as sites.leader.
func parseSitesClients(t *testing.T, stack, src string, leader string) (*sitesClientsDoc, error) {
	t.Helper()
	st, err := parse(t, base+stack)
	if err != nil {
		t.Fatalf("Parse(base stack): %v", err)
	}
	c := newCollector("stack.yaml")
	root := parseYAML(c, []byte(src))
	if root == nil {
		return nil, c.err()
	}
	var doc sitesClientsDoc
	d := newDecoder(c, testEnv)
	d.decode(root, "sites", reflect.ValueOf(&doc).Elem())
	(&checker{c: c, st: st}).sitesClients(doc.DNS, doc.HealthProxy, leader)
	if err := c.err(); err != nil {
		return nil, err
	}
	return &doc, nil
}

const sitesClientsExample = `dns:
  zone: Go.Example.com.
  names: [go.example.com, www.go.example.com]
  ns:
    - { name: ns-home.example.com }
    - { name: ns1.go.example.com, addresses: [198.51.100.7, "2001:db8::7"] }
  addresses: { home: [203.0.113.10] }
health_proxy:
  origins:
    home: https://home.example.com/
    cloud: https://CLOUD.example.com:8443
`

func TestSitesClientsDefaults(t *testing.T) {
	doc, err := parseSitesClients(t, "", sitesClientsExample, "home")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	d := doc.DNS
	if d.Zone != "go.example.com" || d.Listen != ":53" || d.TTL != Duration(30*time.Second) ||
		d.Hostmaster != "hostmaster@go.example.com" || d.RateLimit != 100 {
		t.Errorf("dns = %+v; want zone go.example.com, listen :53, ttl 30s, hostmaster@go.example.com, rate_limit 100", d)
	}
	if !slices.Equal(d.Names, []string{"go.example.com", "www.go.example.com"}) {
		t.Errorf("names = %q", d.Names)
	}
	h := doc.HealthProxy
	if h.Path != "/.tandem/sites/" || h.ProbeInterval != Duration(2*time.Second) || h.ProbeTimeout != Duration(3*time.Second) {
		t.Errorf("health_proxy = %+v; want the defaults", h)
	}
	if h.Origins["home"] != "https://home.example.com" || h.Origins["cloud"] != "https://cloud.example.com:8443" {
		t.Errorf("origins = %q; want them as origins, lower case, without the trailing /", h.Origins)
	}
	min, err := parseSitesClients(t, "", "dns: { zone: example.net, ns: [{ name: ns.example.org }] }\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(min.DNS.Names, []string{"example.net"}) || min.HealthProxy != nil {
		t.Errorf("names = %q, health_proxy %v; want [example.net] and none", min.DNS.Names, min.HealthProxy)
	}
}

func TestSitesClientsProblems(t *testing.T) {
	const ns = "    ns: [{ name: ns.example.org }]\n"
	tests := []struct {
		name, stack, src, path, msg string
	}{
		{"no zone", "", "dns: { ns: [{ name: ns.example.org }] }\n", "sites.dns.zone", "required"},
		{"bad zone", "", "dns: { zone: \"ex ample.com\" }\n", "sites.dns.zone", "must be a domain name"},
		{"single label zone", "", "dns: { zone: com }\n", "sites.dns.zone", "at least two labels"},
		{"name outside zone", "", "dns:\n    zone: go.example.com\n    names: [www.example.com]\n" + ns, "sites.dns.names[0]", "not in the zone"},
		{"name twice", "", "dns:\n    zone: go.example.com\n    names: [go.example.com, GO.example.com.]\n" + ns, "sites.dns.names[1]", "listed twice"},
		{"name with underscore", "", "dns:\n    zone: go.example.com\n    names: [a_b.go.example.com]\n" + ns, "sites.dns.names[0]", "letters, digits"},
		{"no ns", "", "dns: { zone: go.example.com }\n", "sites.dns.ns", "at least one name server"},
		{"in-zone ns without glue", "", "dns: { zone: go.example.com, ns: [{ name: ns1.go.example.com }] }\n", "sites.dns.ns[0].addresses", "required"},
		{"out-of-zone ns with glue", "", "dns: { zone: go.example.com, ns: [{ name: ns.example.org, addresses: [192.0.2.1] }] }\n", "sites.dns.ns[0].addresses", "must be left out"},
		{"bad glue", "", "dns: { zone: go.example.com, ns: [{ name: ns1.go.example.com, addresses: [1.2.3] }] }\n", "sites.dns.ns[0].addresses[0]", "must be an IP address"},
		{"ns is a name", "", "dns: { zone: go.example.com, names: [ns1.go.example.com], ns: [{ name: ns1.go.example.com, addresses: [192.0.2.1] }] }\n", "sites.dns.ns[0].name", "also in sites.dns.names"},
		{"ns twice", "", "dns: { zone: go.example.com, ns: [{ name: ns.example.org }, { name: NS.example.org }] }\n", "sites.dns.ns[1].name", "listed twice"},
		{"bad listen", "", "dns:\n    zone: go.example.com\n    listen: \"53\"\n" + ns, "sites.dns.listen", `did you mean ":53"`},
		{"listen is the edge's", "edge: { listen: \":8053\" }\n", "dns:\n    zone: go.example.com\n    listen: \"127.0.0.1:8053\"\n" + ns, "sites.dns.listen", "same TCP address as edge.listen"},
		{"ttl too long", "", "dns:\n    zone: go.example.com\n    ttl: 2h\n" + ns, "sites.dns.ttl", "must be >= 1s and <= 1h"},
		{"ttl fraction", "", "dns:\n    zone: go.example.com\n    ttl: 1500ms\n" + ns, "sites.dns.ttl", "whole seconds"},
		{"hostmaster", "", "dns:\n    zone: go.example.com\n    hostmaster: nobody\n" + ns, "sites.dns.hostmaster", "mail address"},
		{"addresses bad site", "", "dns:\n    zone: go.example.com\n    addresses: { Moon: [192.0.2.1] }\n" + ns, "sites.dns.addresses.Moon", "must be lower-case"},
		{"addresses empty", "", "dns:\n    zone: go.example.com\n    addresses: { home: [] }\n" + ns, "sites.dns.addresses.home", "at least one address"},
		{"addresses unspecified", "", "dns:\n    zone: go.example.com\n    addresses: { home: [0.0.0.0] }\n" + ns, "sites.dns.addresses.home[0]", "not an address clients can reach"},
		{"rate limit", "", "dns:\n    zone: go.example.com\n    rate_limit: -1\n" + ns, "sites.dns.rate_limit", "must be >= 0"},
		{"unknown dns field", "", "dns:\n    zone: go.example.com\n    tll: 5s\n" + ns, "sites.dns.tll", "unknown field"},
		{"no origins", "", "health_proxy: {}\n", "sites.health_proxy.origins", "at least one origin"},
		{"origin with path", "", "health_proxy: { origins: { home: https://home.example.com/app } }\n", "sites.health_proxy.origins.home", "without a path"},
		{"origin scheme", "", "health_proxy: { origins: { home: ftp://home.example.com } }\n", "sites.health_proxy.origins.home", "http:// or https://"},
		{"origin credentials", "", "health_proxy: { origins: { home: \"https://u:p@home.example.com\" } }\n", "sites.health_proxy.origins.home", "without credentials"},
		{"no origin for the leader", "", "health_proxy: { origins: { cloud: https://cloud.example.com } }\n", "sites.health_proxy.origins", `no origin for the leader site "home"`},
		{"mixed content", "", "health_proxy: { origins: { home: http://home.example.com, cloud: https://cloud.example.com } }\n", "sites.health_proxy.origins.home", "mixed content"},
		{"path without slash", "", "health_proxy: { path: /tandem, origins: { home: https://h.example.com } }\n", "sites.health_proxy.path", `must start and end with "/"`},
		{"path root", "", "health_proxy: { path: /, origins: { home: https://h.example.com } }\n", "sites.health_proxy.path", `not be "/" alone`},
		{"path dots", "", "health_proxy: { path: /a/../b/, origins: { home: https://h.example.com } }\n", "sites.health_proxy.path", "dot segments"},
		{"path hides a route", "edge: { routes: [{ path: /.tandem/sites/x, app: web }] }\n", "health_proxy: { origins: { home: https://h.example.com } }\n", "sites.health_proxy.path", "would hide edge.routes[0]"},
		{"probe interval", "", "health_proxy: { probe_interval: 10ms, origins: { home: https://h.example.com } }\n", "sites.health_proxy.probe_interval", "must be >= 100ms"},
		{"probe timeout", "", "health_proxy: { probe_timeout: 2m, origins: { home: https://h.example.com } }\n", "sites.health_proxy.probe_timeout", "<= 1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSitesClients(t, tt.stack, tt.src, "home")
			if err == nil {
				t.Fatalf("parse(%q) = nil error; want %s: ...%s...", tt.src, tt.path, tt.msg)
			}
			for _, p := range problems(t, err) {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					if p.Line == 0 {
						t.Errorf("problem %v has no line", p)
					}
					return
				}
			}
			t.Errorf("parse(%q) =\n%v\nwant a problem at %s: ...%s...", tt.src, err, tt.path, tt.msg)
		})
	}
}

// TestSitesClientsLoopbackHTTP: http origins on loopback mix with https
// ones, as browsers treat loopback as a secure context.
func TestSitesClientsLoopbackHTTP(t *testing.T) {
	src := "health_proxy: { origins: { home: \"http://127.0.0.1:8080\", cloud: https://cloud.example.com } }\n"
	if _, err := parseSitesClients(t, "", src, "home"); err != nil {
		t.Errorf("parse(%q) = %v; want no problem", src, err)
	}
}
