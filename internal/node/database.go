package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// This file wires the stack's PostgreSQL: a member of it when this node is
// one of database.postgres.members, a follower otherwise, and on every
// node the DB endpoints the apps reach it through.

// database is this node's part of the stack's PostgreSQL; *pgha.Member
// and *pgha.Follower are.
type database interface {
	Run(ctx context.Context) error
	Routes() (pgha.Routes, <-chan struct{})
	Status() pgha.Status
	Credentials(ctx context.Context) (pgha.Credentials, error)
	Switchover(ctx context.Context, to string) error
}

// databaseStoreName names the stack's PostgreSQL cluster in etcd.
const databaseStoreName = "postgres"

// credentialsTimeout bounds the wait at start for the database's
// generated credentials (apps get them in DATABASE_URL).
const credentialsTimeout = 30 * time.Second

// credentialsRetry is the pause between two tries within it.
const credentialsRetry = 500 * time.Millisecond

// dbPart is the node's database while it runs.
type dbPart struct {
	db       database
	store    *cluster.DatabaseStore
	endpoint *pgha.Endpoint // DATABASE_URL
	read     *pgha.Endpoint // DATABASE_READ_URL; nil when read_endpoint is off
	// site is the site endpoint, the DATABASE_URL of the instances of
	// apps whose reads this follower site serves (siteURL, set with the
	// apps' environment); lsn reads the leader's WAL position after
	// their writes. Both nil when this node serves no such app.
	site    *pgha.Endpoint
	siteURL string
	lsn     *pgha.LeaderLSN
}

// openDatabase opens the database's store, builds this node's member or
// follower and binds the DB endpoints. It needs the cluster open (its
// certificates). A stack without a database section opens nothing.
func (n *Node) openDatabase() (err error) {
	pg := n.postgres()
	if pg == nil {
		return nil
	}
	d := &dbPart{}
	defer func() {
		if err != nil {
			d.close()
			err = fmt.Errorf("database: %w", err)
		}
	}()
	if d.store, err = n.cl.OpenDatabaseStore(databaseStoreName); err != nil {
		return err
	}
	ca, cert, key := n.cl.TLSPEM()
	if slices.Contains(pg.Members, n.st.Cluster.Node) {
		// The postgres user reaches its directory below data_dir: let it
		// (and only traverse: data_dir's entries stay unlisted).
		if err := letThrough(n.st.Cluster.DataDir); err != nil {
			return err
		}
		o := memberOptions(n.st, d.store, pgha.TLS{CA: ca, Cert: cert, Key: key}, n.onDatabaseEvent, n.log)
		if n.backup != nil {
			n.backup.ArchiveMember(&o)
		}
		d.db, err = pgha.New(o)
	} else {
		d.db = pgha.NewFollower(pgha.FollowerOptions{Name: n.st.Cluster.Node, Zone: n.st.Cluster.Zone, Site: n.st.Cluster.Site, Store: d.store,
			Asynchronous: !pg.Synchronous, AppUser: pg.User, TTL: time.Duration(pg.TTL), Logger: n.log.With("part", "database")})
	}
	if err != nil {
		return err
	}
	serverTLS, err := endpointTLS(ca, cert, key)
	if err != nil {
		return err
	}
	if d.endpoint, err = n.newEndpoint(pg.Endpoint, false, serverTLS); err != nil {
		return err
	}
	if pg.ReadEndpoint.Listen != "" {
		if d.read, err = n.newEndpoint(pg.ReadEndpoint, true, serverTLS); err != nil {
			return err
		}
	}
	if err := d.openSiteReads(n, pg, serverTLS); err != nil {
		return err
	}
	if err := n.tel.metrics.WatchDatabase(func() telemetry.DatabaseSample { return d.sample(pg.Members) }); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	n.database = d
	return nil
}

// dbPrimaryHere reports whether this node's member runs the primary.
func (n *Node) dbPrimaryHere() bool {
	d := n.database
	return d != nil && d.db.Status().Role == "primary"
}

// letThrough lets every user traverse dir, which tandem owns.
func letThrough(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o001 != 0 {
		return nil
	}
	return os.Chmod(dir, fi.Mode().Perm()|0o001)
}

func (n *Node) postgres() *config.Postgres {
	if n.st.Database == nil {
		return nil
	}
	return n.st.Database.Postgres
}

// newEndpoint builds and binds one DB endpoint.
func (n *Node) newEndpoint(c config.PostgresEndpoint, readOnly bool, serverTLS *tls.Config) (*pgha.Endpoint, error) {
	e, err := pgha.NewEndpoint(pgha.EndpointOptions{Listen: c.Listen, ReadOnly: readOnly, ServerTLS: serverTLS,
		Hold: time.Duration(c.Hold), MaxConns: c.MaxConnections, Logger: n.log.With("part", "database")})
	if err != nil {
		return nil, err
	}
	if err := e.Listen(); err != nil {
		return nil, err
	}
	return e, nil
}

// endpointTLS is the TLS the endpoints speak to PostgreSQL servers: this
// node's certificate, the cluster CA.
func endpointTLS(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("endpoint TLS: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("endpoint TLS: no CA certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// run starts the database's parts: the member or follower, the endpoints
// and the loop that points the endpoints at the routes.
func (d *dbPart) run(run func(string, func(context.Context) error)) {
	run("database", d.db.Run)
	run("database endpoint", d.endpoint.Run)
	if d.read != nil {
		run("database read endpoint", d.read.Run)
	}
	if d.site != nil {
		run("database site endpoint", d.site.Run)
		run("database leader position", func(ctx context.Context) error {
			<-ctx.Done()
			d.lsn.Close()
			return nil
		})
	}
	run("database routes", d.followRoutes)
}

// followRoutes points the endpoints at the primary and the nearest
// standby as they change.
func (d *dbPart) followRoutes(ctx context.Context) error {
	for {
		r, changed := d.db.Routes()
		d.endpoint.SetTarget(r.Primary)
		if d.read != nil {
			d.read.SetTarget(r.Standby)
		}
		if d.site != nil {
			d.site.SetTarget(r.Site)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// env is what the apps are told of the database: DATABASE_URL and
// DATABASE_READ_URL, with the app role's generated password.
func (d *dbPart) env(ctx context.Context, pg *config.Postgres) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	// Asked again until the deadline: a node that starts while etcd
	// elects a leader (a joiner's arrival, a member's loss) gets a
	// timeout that the next try does not.
	c, err := d.db.Credentials(ctx)
	for err != nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(credentialsRetry):
			c, err = d.db.Credentials(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("database: the apps' credentials: %w", err)
	}
	env := []string{"DATABASE_URL=" + pgha.DatabaseURL(pg.Endpoint.Listen, c.App.User, c.App.Password, pg.Database)}
	if d.read != nil {
		env = append(env, "DATABASE_READ_URL="+pgha.DatabaseURL(pg.ReadEndpoint.Listen, c.App.User, c.App.Password, pg.Database))
	}
	if d.site != nil {
		d.siteURL = pgha.DatabaseURL(pg.SiteEndpoint.Listen, c.App.User, c.App.Password, pg.Database)
	}
	return env, nil
}

// close closes what openDatabase opened, when the node does not run.
func (d *dbPart) close() {
	for _, e := range []*pgha.Endpoint{d.endpoint, d.read, d.site} {
		if e != nil {
			e.Close()
		}
	}
	if d.lsn != nil {
		d.lsn.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
}

// onDatabaseEvent reports a change of the database's leader: in the log
// and the audit log, and as an alert.
func (n *Node) onDatabaseEvent(ev pgha.Event) {
	msg := fmt.Sprintf("database %s: %s", ev.Kind, ev.Member)
	if ev.From != "" {
		msg += " after " + ev.From
	}
	if ev.Cause != "" {
		msg += " (" + ev.Cause + ")"
	}
	level := n.log.Info
	if ev.Kind == pgha.EventFailover || ev.Kind == pgha.EventDemoted || ev.Kind == pgha.EventFailsafe || ev.Kind == pgha.EventEmergency {
		level = n.log.Warn
	}
	level("database event", "kind", string(ev.Kind), "member", ev.Member, "from", ev.From, "cause", ev.Cause)
	n.tel.databaseEvent(ev)
	entry := admin.AuditEntry{Time: ev.Time, TokenName: "tandem", Remote: n.st.Cluster.Node, Method: "EVENT",
		Path: "database/" + string(ev.Kind), Outcome: admin.OutcomeOK, Summary: msg}
	if err := n.audit.Append(entry); err != nil {
		n.log.Error("database event not audited", "err", err)
	}
	n.alerts.Send(ev.Time, "database", string(ev.Kind), msg)
}
