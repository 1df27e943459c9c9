package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/sites"
)

// This file wires the stack's sites: this node's beat, the sites
// controller, the plan it applies to this node's apps and routes, and its
// events.

// sitesPart is the node's part in the sites.
type sitesPart struct {
	beat      *cluster.SiteBeat
	ctl       *sites.Controller
	fallbacks []sites.RoutePlan // the routes that are not critical
}

// routeFallbacks gives every route that is not critical a fallback the
// sites turn on in an emergency; none without a sites section.
func (n *Node) routeFallbacks(routes []edge.Route) {
	if n.st.Sites == nil {
		return
	}
	n.sites = &sitesPart{}
	for i, r := range n.st.Edge.Routes {
		if n.st.RouteCritical(r) {
			continue
		}
		fb := edge.NewFallback()
		routes[i].Fallback = fb
		host := r.Host
		if host == "" {
			host = "*"
		}
		n.sites.fallbacks = append(n.sites.fallbacks, sites.RoutePlan{Label: host + r.Path, Fallback: fb})
	}
}

// buildSites builds this node's beat and sites controller; nothing
// without a sites section.
func (n *Node) buildSites() error {
	s := n.st.Sites
	if s == nil {
		return nil
	}
	if n.sites == nil { // a witness: no edge, no routes
		n.sites = &sitesPart{}
	}
	cl := n.st.Cluster
	plan := sites.Plan{Routes: n.sites.fallbacks}
	for _, a := range n.apps.Apps() {
		c := n.st.Apps[a.Name()]
		plan.Apps = append(plan.Apps, sites.AppPlan{Name: a.Name(), Normal: c.InstancesOn(cl.Site, false), Emergency: c.InstancesOn(cl.Site, true), App: a})
	}
	o := sites.Options{
		Config: sites.Config{Node: cl.Node, Site: cl.Site, LeaderSite: s.Leader, EmergencyAfter: time.Duration(s.EmergencyAfter),
			AutoFailback: s.Failback == "auto", StableFor: time.Duration(s.StableFor)},
		Cluster: n.cl,
		Effects: plan,
		OnEvent: n.onSitesEvent,
		Logger:  n.log.With("part", "sites"),
	}
	if n.st.Database != nil {
		o.Database = sitesDatabase{n}
	}
	ctl, err := sites.New(o)
	if err != nil {
		return err
	}
	n.sites.ctl = ctl
	n.sites.beat = n.cl.SiteBeat(cl.Node, cl.Site, 0)
	return nil
}

// run starts the beat and the controller.
func (s *sitesPart) run(run func(string, func(context.Context) error)) {
	run("site beat", s.beat.Run)
	run("sites", s.ctl.Run)
}

// sitesDatabase is the sites' view of the database: the node's member or
// follower once it is open (the cluster's certificates come first).
type sitesDatabase struct{ n *Node }

func (d sitesDatabase) Status() pgha.Status {
	if db := d.n.database; db != nil {
		return db.db.Status()
	}
	return pgha.Status{}
}

func (d sitesDatabase) Switchover(ctx context.Context, to string) error {
	db := d.n.database
	if db == nil {
		return admin.Errorf(admin.ErrUnavailable, "the database is not open yet")
	}
	return db.db.Switchover(ctx, to)
}

// onSitesEvent reports what the sites did: in the log and the audit log,
// and as an alert for a declaration, an end and a failback.
func (n *Node) onSitesEvent(ev sites.Event) {
	msg := ev.Message
	if len(ev.Changes) > 0 {
		msg += "; " + strings.Join(ev.Changes, "; ")
	}
	level := n.log.Warn
	if ev.Kind == sites.EventMode && !strings.HasPrefix(ev.Message, "emergency") {
		level = n.log.Info
	}
	level("sites event", "kind", string(ev.Kind), "message", msg)
	outcome := admin.OutcomeOK
	if ev.Err != nil {
		outcome = admin.OutcomeFailed
	}
	entry := admin.AuditEntry{Time: ev.Time, TokenName: "tandem", Remote: n.st.Cluster.Node, Method: "EVENT",
		Path: "sites/" + string(ev.Kind), Outcome: outcome, Summary: msg}
	if err := n.audit.Append(entry); err != nil {
		n.log.Error("sites event not audited", "err", err)
	}
	if ev.Kind != sites.EventMode {
		n.alerts.Send(ev.Time, "sites", string(ev.Kind), fmt.Sprintf("%s (node %s, site %s)", msg, n.st.Cluster.Node, n.st.Cluster.Site))
	}
}
