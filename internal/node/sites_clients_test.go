package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
)

// TestSitesClients: the sites' client sections, as the stack file's checks
// leave them, become a responder answering with the addresses of the site
// the core names, else of the leader site while it is up, else of another
// site up (the section's own for a site that has some), and a health
// proxy whose probe names the serving sites.
func TestSitesClients(t *testing.T) {
	st := &config.Stack{Cluster: config.Cluster{Node: "c1", Site: "cloud"}}
	d := &config.SitesDNS{
		Zone: "go.example.com", Names: []string{"www.go.example.com"}, Listen: "127.0.0.1:0", TTL: config.Duration(5 * time.Second),
		NS:         []config.SitesNameServer{{Name: "ns1.go.example.com", Addresses: []string{"192.0.2.53"}}},
		Hostmaster: "hostmaster@go.example.com", RateLimit: 100,
		Addresses: map[string][]string{"cloud": {"198.51.100.7"}},
	}
	hp := &config.SitesHealthProxy{Path: "/.tandem/sites/", ProbeInterval: config.Duration(2 * time.Second), ProbeTimeout: config.Duration(3 * time.Second),
		Origins: map[string]string{"home": "https://home.example.com", "cloud": "https://cloud.example.com"}}
	nodes := map[string]cluster.NodeView{
		"h1": {Info: cluster.NodeInfo{Name: "h1", Site: "home", Edge: "203.0.113.10:80"}},
		"c1": {Info: cluster.NodeInfo{Name: "c1", Site: "cloud", Edge: "10.1.0.5:80"}},
		"w1": {Info: cluster.NodeInfo{Name: "w1", Site: "witness", NodeAddr: "192.0.2.9:7946"}}, // no edge
	}
	var leading atomic.Pointer[string] // the sites core's choice
	leading.Store(new(string))
	var cur atomic.Pointer[cluster.View] // views are never modified: a new one replaces the last
	cur.Store(&cluster.View{Nodes: nodes, Synced: true})
	view := func() cluster.View { return *cur.Load() }
	s, err := newSitesClients(st, d, hp, sitesClientsInput{Leader: "home", View: view, Leading: func() string { return *leading.Load() }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	s.run(func(name string, f func(context.Context) error) { go func() { done <- f(ctx) }() })
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dns: %v", err)
		}
	}()

	ask := func() []string {
		q := new(dns.Msg)
		q.SetQuestion("www.go.example.com.", dns.TypeA)
		m, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, s.dns.Addr())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rr := range m.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		return out
	}
	if got := ask(); !slices.Equal(got, []string{"203.0.113.10"}) {
		t.Errorf("www while home is up = %q; want home's edge 203.0.113.10", got)
	}
	cloud := "cloud"
	leading.Store(&cloud) // an emergency: the core made cloud lead
	if got := ask(); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("www while the core names cloud = %q; want cloud's own address 198.51.100.7", got)
	}
	leading.Store(new(string))
	dark := maps.Clone(nodes)
	delete(dark, "h1") // its registration expired: the site is dark
	cur.Store(&cluster.View{Nodes: dark, Synced: true})
	if got := ask(); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("www while home is dark = %q; want cloud's own address 198.51.100.7", got)
	}

	b := s.builtins()
	h, ok := b["/.tandem/sites/"]
	if !ok || len(b) != 1 {
		t.Fatalf("builtins = %v; want the proxy at /.tandem/sites/", b)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.tandem/sites/probe", nil))
	var probe struct {
		Site, Node string
		Serving    []string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &probe); err != nil || probe.Site != "cloud" || probe.Node != "c1" || !slices.Equal(probe.Serving, []string{"cloud"}) {
		t.Errorf("probe = %s (%v); want site cloud, node c1, serving [cloud]", rec.Body, err)
	}
}

func TestSitesClientsNone(t *testing.T) {
	s, err := newSitesClients(&config.Stack{}, nil, nil, sitesClientsInput{}, slog.New(slog.DiscardHandler))
	if s != nil || err != nil || s.builtins() != nil || s.listen() != nil {
		t.Errorf("no sections: %v, %v; want nothing", s, err)
	}
	s.run(func(string, func(context.Context) error) { t.Error("a part runs without sections") })
	s.close()
}
