package config

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Sites says how the cluster's sites share the work: the leader site holds
// the database primary and takes the writes; a follower site replicates
// and, when the leader site has been unreachable (as decided through the
// control plane's quorum) for EmergencyAfter, becomes the emergency
// leader. Stack.Sites is nil when the stack file has no sites section:
// then the site of a node (cluster.site) is only shown in status.
type Sites struct {
	// Leader is the site that normally leads; a name. Required.
	Leader string `yaml:"leader"`
	// EmergencyAfter is how long the leader site must have been
	// unreachable before an emergency is declared; 1s to 1h, default 30s.
	EmergencyAfter Duration `yaml:"emergency_after"`
	// Failback is FailbackManual (default: `tandem sites failback` ends
	// an emergency) or FailbackAuto (after StableFor).
	Failback string `yaml:"failback"`
	// StableFor is how long the leader site must have been back, its
	// database members caught up, before an automatic failback; 1s to
	// 7 days, default 10m.
	StableFor Duration `yaml:"stable_for"`
	// DNS is the DNS responder that answers with the sites that are up;
	// nil when the file has none.
	DNS *SitesDNS `yaml:"dns"`
	// HealthProxy is the page that sends browsers to a site that answers;
	// nil when the file has none.
	HealthProxy *SitesHealthProxy `yaml:"health_proxy"`
}

// Values of Sites.Failback.
const (
	FailbackManual = "manual"
	FailbackAuto   = "auto"
)

// Limits of the sites section.
const (
	minEmergencyAfter = Duration(time.Second)
	maxEmergencyAfter = Duration(time.Hour)
	minStableFor      = Duration(time.Second)
	maxStableFor      = Duration(7 * 24 * time.Hour)
)

func (s *Sites) setDefaults() {
	s.EmergencyAfter = Duration(30 * time.Second)
	s.Failback = FailbackManual
	s.StableFor = Duration(10 * time.Minute)
}

// AppSite is what an app runs on each node of one site: normally and
// while an emergency is declared against the leader site.
type AppSite struct {
	// Instances is the app's instances per node of the site, 0..256;
	// default the app's instances.
	Instances int `yaml:"instances"`
	// EmergencyInstances is the same during an emergency, for a critical
	// app on a follower site, 0..256; default the app's instances.
	EmergencyInstances int `yaml:"emergency_instances"`
	// Reads is where a follower site sends the app's reads in normal
	// operation: ReadsLeader (default: every request goes where the
	// balancer picks, the leader site's nodes when the site runs no
	// instance) or ReadsLocal (GET and HEAD to the site's own instances,
	// on the site's database standby; every other method to the leader
	// site; a client that just wrote reads from the leader site until the
	// standby has replayed its write).
	Reads string `yaml:"reads"`
}

// Values of AppSite.Reads.
const (
	ReadsLeader = "leader"
	ReadsLocal  = "local"
)

// unsetInstances marks an AppSite count the file left out, until the
// checker fills in the app's.
const unsetInstances = -1

func (s *AppSite) setDefaults() {
	s.Instances, s.EmergencyInstances = unsetInstances, unsetInstances
	s.Reads = ReadsLeader
}

// ReadsLocalOn reports whether a node of site serves the app's reads
// from its own site (apps.X.sites.S.reads: local).
func (a *App) ReadsLocalOn(site string) bool {
	s, ok := a.Sites[site]
	return ok && s.Reads == ReadsLocal
}

// InstancesOn returns how many instances of the app a node of site runs,
// normally or during an emergency. Without a sites section it is the
// app's instances. In an emergency a critical app runs its site's
// emergency_instances; any other app keeps its normal count.
func (a *App) InstancesOn(site string, emergency bool) int {
	s, ok := a.Sites[site]
	switch {
	case !ok:
		return a.Instances
	case emergency && a.Critical:
		return s.EmergencyInstances
	}
	return s.Instances
}

// sites checks the sites section (with its client parts, dns and
// health_proxy), the apps' per-site counts and the witness; it runs after
// apps() and routes().
func (k *checker) sites() {
	s := k.st.Sites
	if s != nil {
		const f = "sites"
		if s.Leader == "" {
			k.c.addf(f+".leader", "required: the site that normally leads (holds the database primary), e.g. home")
		} else {
			k.name(f+".leader", s.Leader)
		}
		if s.EmergencyAfter < minEmergencyAfter || s.EmergencyAfter > maxEmergencyAfter {
			k.c.addf(f+".emergency_after", "must be >= %s and <= %s, got %s", minEmergencyAfter, maxEmergencyAfter, s.EmergencyAfter)
		}
		if s.Failback != FailbackManual && s.Failback != FailbackAuto {
			k.c.addf(f+".failback", "must be manual or auto, got %q", s.Failback)
		}
		if s.StableFor < minStableFor || s.StableFor > maxStableFor {
			k.c.addf(f+".stable_for", "must be >= %s and <= %s, got %s", minStableFor, maxStableFor, s.StableFor)
		}
		k.sitesClients(s.DNS, s.HealthProxy, s.Leader)
	}
	k.crossSite()
	for _, name := range k.st.AppNames {
		k.appSites("apps."+name, k.st.Apps[name])
	}
	k.witness()
}

// crossSite checks database.postgres.cross_site.
func (k *checker) crossSite() {
	db := k.st.Database
	if db == nil || db.Postgres == nil {
		return
	}
	const f = "database.postgres.cross_site"
	switch p := db.Postgres; {
	case p.CrossSite != CrossSiteAsync && p.CrossSite != CrossSiteSync:
		k.c.addf(f, "must be async or sync, got %q", p.CrossSite)
	case p.CrossSite == CrossSiteSync && k.st.Sites == nil:
		k.c.addf(f, "sync needs a sites section: without one, replication does not know sites")
	case p.CrossSite == CrossSiteSync && !p.Synchronous:
		k.c.addf(f, "sync needs synchronous: true")
	}
}

// appSites checks an app's per-site counts and fills the defaults.
func (k *checker) appSites(p string, a *App) {
	if len(a.Sites) > 0 && k.st.Sites == nil {
		k.c.addf(p+".sites", "needs a sites section (sites.leader) to say which site leads")
		return
	}
	if a.Critical && k.st.Sites == nil {
		k.c.addf(p+".critical", "needs a sites section: an app is critical for an emergency of the leader site")
	}
	for _, site := range slices.Sorted(maps.Keys(a.Sites)) {
		f := p + ".sites." + site
		s := a.Sites[site]
		k.name(f, site)
		if s.EmergencyInstances != unsetInstances && k.st.Sites != nil && site == k.st.Sites.Leader {
			k.c.addf(f+".emergency_instances", "%s is the leader site: an emergency is declared against it, never for it", site)
		}
		if s.Instances == unsetInstances {
			s.Instances = a.Instances
		}
		if s.EmergencyInstances == unsetInstances {
			s.EmergencyInstances = a.Instances
		}
		k.between(f+".instances", s.Instances, 0, maxInstances)
		k.between(f+".emergency_instances", s.EmergencyInstances, 0, maxInstances)
		k.reads(f+".reads", site, s)
	}
}

// ReadsLocal reports whether this node serves an app's reads from its
// site's database: then it binds database.postgres.site_endpoint.
func (st *Stack) ReadsLocal() bool {
	for _, a := range st.Apps {
		if a.ReadsLocalOn(st.Cluster.Site) {
			return true
		}
	}
	return false
}

// reads checks an app's reads on a site: local only on a follower site
// that runs instances, with the stack's PostgreSQL to read from.
func (k *checker) reads(f, site string, s *AppSite) {
	switch {
	case s.Reads != ReadsLeader && s.Reads != ReadsLocal:
		k.c.addf(f, "must be leader or local, got %q", s.Reads)
	case s.Reads == ReadsLeader:
	case k.st.Sites != nil && site == k.st.Sites.Leader:
		k.c.addf(f, "%s is the leader site: it serves every request itself", site)
	case s.Instances == 0:
		k.c.addf(f, "local needs instances on site %s (instances is 0): its own instances serve the reads", site)
	case k.st.Database == nil || k.st.Database.Postgres == nil:
		k.c.addf(f, "local needs database.postgres: reads are served from the site's database standby")
	}
}

// routeCritical checks a route's critical flag.
func (k *checker) routeCritical(p string, r *Route) {
	if r.Critical != nil && k.st.Sites == nil {
		k.c.addf(p+".critical", "needs a sites section: a route is critical for an emergency of the leader site")
	}
}

// RouteCritical reports whether route r is served as usual in an
// emergency: its own critical flag, else its app's.
func (st *Stack) RouteCritical(r Route) bool {
	if r.Critical != nil {
		return *r.Critical
	}
	a, ok := st.Apps[r.App]
	return ok && a.Critical
}

// witness checks a witness node: an etcd member and nothing else, so it
// must not declare apps, jobs, an edge or a database member.
func (k *checker) witness() {
	cl := k.st.Cluster
	if !cl.Witness {
		if len(k.st.Apps) == 0 {
			k.c.addf("apps", "at least one app is required (a node that runs none is a witness: cluster.witness: true)")
		}
		return
	}
	const f = "cluster.witness"
	var extra []string
	if len(k.st.Apps) > 0 {
		extra = append(extra, "apps")
	}
	if len(k.st.Jobs) > 0 {
		extra = append(extra, "jobs")
	}
	if k.c.line("edge") != 0 {
		extra = append(extra, "edge")
	}
	if len(extra) > 0 {
		k.c.addf(f, "a witness runs no apps, jobs or edge (it is an etcd member only): remove %s", strings.Join(extra, ", "))
	}
	if db := k.st.Database; db != nil && db.Postgres != nil && slices.Contains(db.Postgres.Members, cl.Node) {
		k.c.addf(f, "a witness runs no PostgreSQL: remove %s from database.postgres.members", cl.Node)
	}
	if s := k.st.Sites; s != nil && s.Leader == cl.Site {
		k.c.addf(f, "the witness is in the leader site %s: it keeps the quorum only in a third place (cluster.site)", cl.Site)
	}
}
