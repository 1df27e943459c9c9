package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const sitesBase = `cluster: { node: c1, site: cloud }
sites: { leader: home }
apps:
  web:
    command: [bin/wiki]
    instances: 2
    critical: true
    sites:
      cloud: { instances: 0, emergency_instances: 3 }
      home: {}
  admin:
    command: [bin/admin]
    sites:
      cloud: { instances: 0 }
edge:
  routes:
    - { path: /, app: web }
    - { path: /edit/, app: web, critical: false }
    - { path: /admin/, app: admin }
    - { path: /status/, app: admin, critical: true }
`

func TestSitesDefaults(t *testing.T) {
	st, err := parse(t, sitesBase)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sites
	if s.Leader != "home" || s.EmergencyAfter != Duration(30*time.Second) || s.Failback != FailbackManual || s.StableFor != Duration(10*time.Minute) {
		t.Errorf("sites = %+v; want leader home, 30s, manual, 10m", s)
	}
	web, adm := st.Apps["web"], st.Apps["admin"]
	for _, c := range []struct {
		app       *App
		site      string
		emergency bool
		want      int
	}{
		{web, "cloud", false, 0}, {web, "cloud", true, 3},
		{web, "home", false, 2}, {web, "home", true, 2},
		{web, "elsewhere", true, 2},
		{adm, "cloud", false, 0}, {adm, "cloud", true, 0}, // not critical: no emergency instances
		{adm, "home", true, 1},
	} {
		if got := c.app.InstancesOn(c.site, c.emergency); got != c.want {
			t.Errorf("apps.%s.InstancesOn(%q, %v) = %d; want %d", c.app.Name, c.site, c.emergency, got, c.want)
		}
	}
	if got := st.Apps["admin"].Sites["cloud"].EmergencyInstances; got != 1 {
		t.Errorf("apps.admin.sites.cloud.emergency_instances = %d; want the app's instances (1)", got)
	}
	for i, want := range []bool{true, false, false, true} {
		if got := st.RouteCritical(st.Edge.Routes[i]); got != want {
			t.Errorf("RouteCritical(edge.routes[%d]) = %v; want %v", i, got, want)
		}
	}
}

// TestSitesReads: reads is leader unless a follower site says local; a
// node of that site binds the site endpoint, a node of another does not.
func TestSitesReads(t *testing.T) {
	src := strings.Replace(sitesBase, "cloud: { instances: 0, emergency_instances: 3 }", "cloud: { instances: 1, reads: local }", 1) +
		"database: { postgres: { members: [h1, c1] } }\n"
	st, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	web, adm := st.Apps["web"], st.Apps["admin"]
	if !web.ReadsLocalOn("cloud") || web.ReadsLocalOn("home") || adm.ReadsLocalOn("cloud") || web.Sites["home"].Reads != ReadsLeader {
		t.Errorf("reads: web cloud %v, web home %v, admin cloud %v, web home %q; want true, false, false, leader",
			web.ReadsLocalOn("cloud"), web.ReadsLocalOn("home"), adm.ReadsLocalOn("cloud"), web.Sites["home"].Reads)
	}
	if !st.ReadsLocal() || st.Database.Postgres.SiteEndpoint.Listen != "127.0.0.1:6434" {
		t.Errorf("ReadsLocal() = %v, site_endpoint %q at cloud; want true, 127.0.0.1:6434", st.ReadsLocal(), st.Database.Postgres.SiteEndpoint.Listen)
	}
	home, err := parse(t, strings.Replace(src, "node: c1, site: cloud", "node: h1, site: home", 1))
	if err != nil {
		t.Fatal(err)
	}
	if home.ReadsLocal() {
		t.Errorf("ReadsLocal() at home = true; want false")
	}
}

func TestSitesFull(t *testing.T) {
	st, err := parse(t, strings.Replace(sitesBase, "sites: { leader: home }",
		"sites: { leader: home, emergency_after: 8s, failback: auto, stable_for: 2m,\n"+
			"  dns: { zone: go.example.com, ns: [{ name: ns.example.org }], listen: \"127.0.0.1:5353\" },\n"+
			"  health_proxy: { origins: { home: https://home.example.com } } }", 1))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sites
	if s.EmergencyAfter != Duration(8*time.Second) || s.Failback != FailbackAuto || s.StableFor != Duration(2*time.Minute) || s.DNS == nil || s.HealthProxy == nil {
		t.Errorf("sites = %+v; want it as written", s)
	}
	// Parse checks the client parts and fills the defaults that hang on
	// other fields.
	if !slices.Equal(s.DNS.Names, []string{"go.example.com"}) || s.DNS.Hostmaster != "hostmaster@go.example.com" {
		t.Errorf("sites.dns = %+v; want names [go.example.com], hostmaster@go.example.com", s.DNS)
	}
}

func TestSitesProblems(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"no leader", "cluster: { node: n }\nsites: { emergency_after: 10s }\napps: { web: { command: [x] } }\n", "sites.leader: required"},
		{"bad leader", "cluster: { node: n }\nsites: { leader: Home }\napps: { web: { command: [x] } }\n", "sites.leader: must be lower-case"},
		{"emergency_after", "cluster: { node: n }\nsites: { leader: home, emergency_after: 0s }\napps: { web: { command: [x] } }\n", "sites.emergency_after: must be >= 1s"},
		{"failback", "cluster: { node: n }\nsites: { leader: home, failback: later }\napps: { web: { command: [x] } }\n", `sites.failback: must be manual or auto, got "later"`},
		{"stable_for", "cluster: { node: n }\nsites: { leader: home, stable_for: 30d }\napps: { web: { command: [x] } }\n", "sites.stable_for: must be >= 1s and <= 7d, got 30d"},
		{"app sites without sites", "cluster: { node: n }\napps: { web: { command: [x], sites: { cloud: { instances: 0 } } } }\n", "apps.web.sites: needs a sites section"},
		{"critical without sites", "cluster: { node: n }\napps: { web: { command: [x], critical: true } }\n", "apps.web.critical: needs a sites section"},
		{"route critical without sites", "cluster: { node: n }\napps: { web: { command: [x] } }\nedge: { routes: [{ app: web, critical: true }] }\n", "edge.routes[0].critical: needs a sites section"},
		{"instances range", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { cloud: { emergency_instances: 300 } } } }\n", "apps.web.sites.cloud.emergency_instances: must be <= 256"},
		{"leader emergency", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { home: { emergency_instances: 2 } } } }\n", "apps.web.sites.home.emergency_instances: home is the leader site"},
		{"reads value", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { cloud: { reads: nearest } } } }\n", `apps.web.sites.cloud.reads: must be leader or local, got "nearest"`},
		{"reads local at the leader", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { home: { reads: local } } } }\ndatabase: { postgres: { members: [n] } }\n", "apps.web.sites.home.reads: home is the leader site"},
		{"reads local without instances", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { cloud: { instances: 0, reads: local } } } }\ndatabase: { postgres: { members: [n] } }\n", "apps.web.sites.cloud.reads: local needs instances on site cloud"},
		{"reads local without a database", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { cloud: { reads: local } } } }\n", "apps.web.sites.cloud.reads: local needs database.postgres"},
		{"site endpoint on the read endpoint", "cluster: { node: n, site: cloud }\nsites: { leader: home }\napps: { web: { command: [x], sites: { cloud: { reads: local } } } }\ndatabase: { postgres: { members: [n], site_endpoint: { listen: \"127.0.0.1:6433\" } } }\n", `database.postgres.site_endpoint.listen: "127.0.0.1:6433" is the same address as database.postgres.read_endpoint.listen`},
		{"site name", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x], sites: { Cloud: {} } } }\n", "apps.web.sites.Cloud: must be lower-case"},
		{"unknown field", "cluster: { node: n }\nsites: { leader: home, lead: cloud }\napps: { web: { command: [x] } }\n", "sites.lead: unknown field"},
		{"cross_site", "cluster: { node: n }\napps: { web: { command: [x] } }\ndatabase: { postgres: { members: [n], cross_site: sync } }\n", "database.postgres.cross_site: sync needs a sites section"},
		{"cross_site async db", "cluster: { node: n }\nsites: { leader: home }\napps: { web: { command: [x] } }\ndatabase: { postgres: { members: [n], synchronous: false, cross_site: sync } }\n", "database.postgres.cross_site: sync needs synchronous: true"},
		{"cross_site value", "cluster: { node: n }\napps: { web: { command: [x] } }\ndatabase: { postgres: { members: [n], cross_site: often } }\n", `database.postgres.cross_site: must be async or sync, got "often"`},
		{"no apps", "cluster: { node: n }\n", "apps: at least one app is required (a node that runs none is a witness"},
		{"dns without zone", "cluster: { node: n }\nsites: { leader: home, dns: { ns: [{ name: ns.example.org }] } }\napps: { web: { command: [x] } }\n", "sites.dns.zone: required"},
		{"proxy without the leader", "cluster: { node: n }\nsites: { leader: home, health_proxy: { origins: { cloud: https://c.example.com } } }\napps: { web: { command: [x] } }\n", `sites.health_proxy.origins: has no origin for the leader site "home"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v; want an error containing %q", err, c.want)
			}
		})
	}
}

func TestWitness(t *testing.T) {
	st, err := parse(t, "cluster: { node: w1, site: witness, witness: true }\nsites: { leader: home }\n")
	if err != nil {
		t.Fatalf("a witness without apps: %v", err)
	}
	if !st.Cluster.Witness || len(st.Apps) != 0 || len(st.Edge.Routes) != 0 {
		t.Errorf("witness = %+v, %d apps, %d routes; want a witness with none", st.Cluster, len(st.Apps), len(st.Edge.Routes))
	}
	for _, c := range []struct {
		name, src, want string
	}{
		{"apps", "cluster: { node: w1, site: w, witness: true }\napps: { web: { command: [x] } }\n", "cluster.witness: a witness runs no apps, jobs or edge (it is an etcd member only): remove apps"},
		{"edge", "cluster: { node: w1, site: w, witness: true }\nedge: { listen: \":80\" }\n", "remove edge"},
		{"jobs", "cluster: { node: w1, site: w, witness: true }\njobs: { j: { schedule: \"@daily\", command: [x] } }\n", "remove jobs"},
		{"member", "cluster: { node: w1, site: w, witness: true }\ndatabase: { postgres: { members: [a, w1] } }\n", "remove w1 from database.postgres.members"},
		{"leader site", "cluster: { node: w1, witness: true }\nsites: { leader: home }\n", "the witness is in the leader site home"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v; want an error containing %q", err, c.want)
			}
		})
	}
}
