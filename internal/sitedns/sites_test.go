package sitedns

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/tandem-run/tandem/internal/cluster"
)

func view(nodes ...cluster.NodeInfo) func() cluster.View {
	v := cluster.View{Nodes: map[string]cluster.NodeView{}, Synced: true}
	for _, n := range nodes {
		v.Nodes[n.Name] = cluster.NodeView{Info: n}
	}
	return func() cluster.View { return v }
}

func TestClusterSites(t *testing.T) {
	nodes := []cluster.NodeInfo{
		{Name: "h1", Site: "home", Edge: "203.0.113.10:80", NodeAddr: "10.0.0.1:7946"},
		{Name: "h2", Site: "home", Edge: "[::]:80", NodeAddr: "10.0.0.2:7946"},      // every address: the advertised one
		{Name: "h3", Site: "home", Edge: "[::ffff:203.0.113.10]:80"},                // the same as h1's
		{Name: "h4", Site: "home", Edge: ":80", NodeAddr: "node4.example.com:7946"}, // a name: left out
		{Name: "c1", Site: "cloud", Edge: "[2001:db8::7]:80"},
		{Name: "e1", Site: "edge", Edge: "192.0.2.99:80"},
		{Name: "w1", Site: "witness", NodeAddr: "192.0.2.9:7946"}, // no edge: never serves
		{Name: "w2", Site: "cloud", NodeAddr: "192.0.2.10:7946"},  // a witness in a serving site: not an address
	}
	tests := []struct {
		name           string
		nodes          []cluster.NodeInfo
		leading, avoid string
		serving        []string
	}{
		{"all up", nodes, "", "", []string{"home", "cloud", "edge"}},
		{"the core says cloud leads", nodes, "cloud", "", []string{"cloud", "home", "edge"}},
		{"the core names a site that is down", nodes[4:], "home", "", []string{"cloud", "edge"}},
		{"home dark", nodes[4:], "", "", []string{"cloud", "edge"}},
		// An emergency against home, no leading site known (no database
		// here): home's registrations outlive the decision by their lease.
		{"home declared down, still registered", nodes, "", "home", []string{"cloud", "edge", "home"}},
		{"home declared down, only home", nodes[:4], "", "home", []string{"home"}},
		{"home declared down and dark", nodes[4:], "", "home", []string{"cloud", "edge"}},
		{"only witnesses", nodes[6:7], "", "", nil},
		{"nothing", nil, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &ClusterSites{View: view(tt.nodes...), Order: []string{"home", "cloud"},
				Leading: func() string { return tt.leading }, Avoid: func() string { return tt.avoid }}
			if got := c.Serving(); !slices.Equal(got, tt.serving) {
				t.Errorf("Serving() = %q; want %q", got, tt.serving)
			}
		})
	}
	c := &ClusterSites{View: view(nodes...), Order: []string{"home", "cloud"}}
	if got, want := c.SiteAddrs("home"), addrs("10.0.0.2", "203.0.113.10"); !slices.Equal(got, want) {
		t.Errorf("SiteAddrs(home) = %v; want %v", got, want)
	}
	if got, want := c.SiteAddrs("cloud"), addrs("2001:db8::7"); !slices.Equal(got, want) {
		t.Errorf("SiteAddrs(cloud) = %v; want %v", got, want)
	}
	if got := c.SiteAddrs("witness"); got != nil {
		t.Errorf("SiteAddrs(witness) = %v; want nil", got)
	}
	c.Static = map[string][]netip.Addr{"home": addrs("198.51.100.1")}
	if got, want := c.SiteAddrs("home"), addrs("198.51.100.1"); !slices.Equal(got, want) {
		t.Errorf("SiteAddrs(home) with static addresses = %v; want %v", got, want)
	}
}
