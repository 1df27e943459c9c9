package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
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
	var leading, down atomic.Pointer[string] // the sites core's choice, and the site it declared unreachable
	leading.Store(new(string))
	down.Store(new(string))
	var cur atomic.Pointer[cluster.View] // views are never modified: a new one replaces the last
	cur.Store(&cluster.View{Nodes: nodes, Synced: true})
	view := func() cluster.View { return *cur.Load() }
	s, err := newSitesClients(st, d, hp, sitesClientsInput{Leader: "home", View: view,
		Leading: func() string { return *leading.Load() }, Unreachable: func() string { return *down.Load() }}, slog.New(slog.DiscardHandler))
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
		out, err := lookupA(s.dns.Addr(), "www.go.example.com.")
		if err != nil {
			t.Fatal(err)
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
	home := "home"
	down.Store(&home) // an emergency without a leading site known: home, still registered, comes last
	if got := ask(); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("www while home is declared unreachable = %q; want cloud's own address 198.51.100.7", got)
	}
	down.Store(new(string))
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

// TestSitesClientsInNode: a node whose stack file has sites.dns and
// sites.health_proxy answers the zone's names with its site's edge
// address once it registered, from the address the section gives, and
// its edge serves the health proxy's page and probe before any route (the
// app never sees them). The answers' move to a follower site in an
// emergency is shown end to end (cmd/tandem's sites test).
func TestSitesClientsInNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	t.Parallel()
	edgeAddr := "127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	dnsAddr := "127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	stack := fmt.Sprintf(`
cluster: { name: sites, node: h1, zone: a, site: home, data_dir: %q, advertise: 127.0.0.1, peer_port: %d, client_port: %d, node_port: %d }
edge: { listen: %q }
admin: { listen: "127.0.0.1:0" }
sites:
  leader: home
  dns: { zone: go.example.test, names: [www.go.example.test], ns: [{ name: ns.example.org }], listen: %q, ttl: 1s }
  health_proxy: { origins: { home: "http://%s", cloud: "http://127.0.0.2:1" } }
apps:
  web:
    command: [%q]
    env: { TANDEM_NODE_TEST_APP: "1" }
    health: { path: /healthz, interval: 200ms, timeout: 150ms, rise: 1 }
`, t.TempDir(), clustertest.FreePort(t), clustertest.FreePort(t), clustertest.FreePort(t), edgeAddr, dnsAddr, edgeAddr, testapp(t))
	st, err := config.Parse("stack.yaml", []byte(stack), t.TempDir(), nil)
	if err != nil {
		t.Fatalf("stack file: %v", err)
	}
	tn := runNode(t, st)

	var answer []string
	deadline := time.Now().Add(time.Minute)
	for !slices.Equal(answer, []string{"127.0.0.1"}) {
		if stopped, err := tn.exited(); stopped {
			t.Fatalf("node stopped while starting: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("www.go.example.test = %q (%v); want home's edge 127.0.0.1 within a minute", answer, err)
		}
		time.Sleep(100 * time.Millisecond)
		answer, err = lookupA(dnsAddr, "www.go.example.test.")
	}

	c := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := c.Get("http://" + edgeAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, ctype, body := get("/.tandem/sites/"); code != 200 || !strings.HasPrefix(ctype, "text/html") || strings.Contains(body, "from web-") {
		t.Errorf("GET /.tandem/sites/ = %d %s %.80q; want the health proxy's page, not the app's", code, ctype, body)
	}
	code, _, body := get("/.tandem/sites/probe")
	var probe struct {
		Site, Node string
		Serving    []string
	}
	if err := json.Unmarshal([]byte(body), &probe); code != 200 || err != nil || probe.Site != "home" || probe.Node != "h1" || !slices.Equal(probe.Serving, []string{"home"}) {
		t.Errorf("probe = %d %s (%v); want site home, node h1, serving [home]", code, body, err)
	}
	if code, _, body := get("/.tandem/site"); code != 200 || !strings.Contains(body, "/.tandem/site from web-") {
		t.Errorf("GET /.tandem/site = %d %q; want the app's answer (outside the proxy's path)", code, body)
	}
}

// lookupA asks the responder at addr for name's A records.
func lookupA(addr, name string) ([]string, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	m, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}
