package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/sites"
)

// This file wires the apps whose reads this node's follower site serves
// (apps.X.sites.S.reads: local): their requests routed by sites.Reads,
// their instances' DATABASE_URL (the site endpoint: the site's standby),
// and the leader's WAL position read after each forwarded write.

// leaderLSNConns bounds the connections that read the leader's WAL
// position: one query per forwarded write, each a round trip.
const leaderLSNConns = 4

// readsLocal reports whether this node serves app's reads from its own
// site: a follower site's node with reads: local for it.
func (n *Node) readsLocal(app string) bool {
	s := n.st.Sites
	return s != nil && s.Leader != n.st.Cluster.Site && n.postgres() != nil && n.st.Apps[app].ReadsLocalOn(n.st.Cluster.Site)
}

// localReads routes app's requests through sites.Reads and gives its
// instances the site's database, when this node serves its reads.
func (n *Node) localReads(o *apprun.Options) {
	cl := n.st.Cluster
	o.Pool.Site = cl.Site
	if !n.readsLocal(o.Name) {
		return
	}
	name, leader := o.Name, n.st.Sites.Leader
	o.Transport = func(p *balance.Pool) http.RoundTripper {
		return sites.NewReads(sites.ReadsOptions{App: name, Site: cl.Site, LeaderSite: leader,
			All: p, Local: p.SiteTransport(cl.Site), Leader: p.SiteTransport(leader),
			Database: readsDatabase{n}, Logger: n.log.With("part", "sites")})
	}
	o.InstanceEnv = func() []string {
		if d := n.database; d != nil && d.siteURL != "" {
			return []string{"DATABASE_URL=" + d.siteURL}
		}
		return nil
	}
}

// readsDatabase is sites.Reads' view of the database: the node's member
// or follower once it is open.
type readsDatabase struct{ n *Node }

var _ sites.ReadsDatabase = readsDatabase{}

func (d readsDatabase) SitePrimary() bool {
	db := d.n.database
	if db == nil {
		return false
	}
	r, _ := db.db.Routes()
	return r.Primary != "" && r.Site == r.Primary
}

// SiteReplayed is the published replay position of the member the site
// endpoint sends connections to; 0 when none is known.
func (d readsDatabase) SiteReplayed() pgha.LSN {
	db := d.n.database
	if db == nil {
		return 0
	}
	r, _ := db.db.Routes()
	for _, m := range db.db.Status().Members {
		if m.Addr == r.Site && r.Site != "" {
			return m.ReplayLSN
		}
	}
	return 0
}

func (d readsDatabase) LeaderLSN(ctx context.Context) (pgha.LSN, error) {
	db := d.n.database
	if db == nil || db.lsn == nil {
		return 0, errors.New("read the leader's wal position: the database is not open yet")
	}
	return db.lsn.Read(ctx)
}

// openSiteReads binds the site endpoint and prepares the connections
// that read the leader's WAL position, on a node that serves an app's
// reads from its site.
func (d *dbPart) openSiteReads(n *Node, pg *config.Postgres, serverTLS *tls.Config) (err error) {
	if !n.st.ReadsLocal() { // never at the leader site: the stack file's check refuses it
		return nil
	}
	if d.site, err = n.newEndpoint(pg.SiteEndpoint, false, serverTLS); err != nil {
		return err
	}
	d.lsn, err = pgha.NewLeaderLSN(pgha.DatabaseURL(pg.Endpoint.Listen, pg.User, "", pg.Database), leaderLSNConns,
		func(ctx context.Context) (string, string, error) {
			c, err := d.db.Credentials(ctx)
			if err != nil {
				return "", "", err
			}
			return c.App.User, c.App.Password, nil
		})
	return err
}
