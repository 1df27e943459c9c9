package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/handover"
)

// The admin API's state lives in <data_dir>/admin: the audit log, and the
// root token the node makes on its first start. The tokens (hashed) live
// in the cluster; tokens.json is where a node kept them before, copied
// into the cluster on its first start with one.
const (
	adminDirName  = "admin"
	tokensFile    = "tokens.json"
	auditFile     = "audit.log"
	rootTokenFile = "root.token"
)

// adminDir is where the node keeps its admin API state.
func (n *Node) adminDir() string {
	return filepath.Join(n.st.Cluster.DataDir, adminDirName)
}

// RootTokenFile is where a node of st keeps its root token, which the
// CLI uses when given the stack file.
func RootTokenFile(st *config.Stack) string {
	return filepath.Join(st.Cluster.DataDir, adminDirName, rootTokenFile)
}

// buildAdmin builds the admin API server; it touches no file. Its tokens
// are the cluster's, usable once the cluster is open.
func (n *Node) buildAdmin() error {
	records, err := n.cl.TokenRecords()
	if err != nil {
		return err
	}
	n.tokens = admin.NewRecordTokenStore(records, n.cl)
	n.audit = admin.NewAuditLog(filepath.Join(n.adminDir(), auditFile))
	jobs := admin.JobRunner{Runner: n.jobs, Names: n.st.JobNames, Apps: map[string]string{}}
	for name, j := range n.st.Jobs {
		jobs.Apps[name] = j.App
	}
	checks := admin.CheckMonitor{Monitor: n.checks}
	var purger edge.Purger // none without a cache
	if n.cache != nil {
		purger = n.purges
	}
	o := admin.Options{
		Listen:  n.st.Admin.Listen,
		Status:  n.status(jobs, checks),
		Purge:   admin.PurgeWith(purger),
		Deploys: admin.Apps{Set: n.apps, Jobs: admin.JobSpecsOf(n.st)},
		Tokens:  n.tokens,
		Audit:   n.audit,
		Logger:  n.log,
		Metrics: n.tel.metrics.Handler(),
		Series:  n.tel,
		Cluster: admin.ClusterOf{C: n.cl},
	}
	if n.jobs != nil {
		o.Jobs = jobs
	}
	if n.checks != nil {
		o.Checks = checks
	}
	if n.st.Database != nil {
		o.Database = nodeDatabase{n}
	}
	if n.st.Backup != nil {
		o.Backups = n.backup
	}
	if t := n.st.Admin.TLS; t != nil {
		o.TLSCert, o.TLSKey = t.Cert, t.Key
	}
	if n.opts.Keeper != "" && n.edge != nil { // a witness is restarted, not upgraded in place
		o.Upgrade = n
	}
	if n.sites != nil {
		o.Sites = admin.SitesOf{C: n.sites.ctl}
	}
	if o.Inherited, err = n.opts.Handover.Listener(handover.ListenerAdmin, n.st.Admin.Listen); err != nil {
		return err
	}
	n.admin, err = admin.New(o)
	return err
}

// status reads the node's status from its parts.
func (n *Node) status(jobs admin.JobRunner, checks admin.CheckMonitor) func(context.Context) admin.Status {
	view := admin.ClusterView{Name: n.st.Cluster.Name, Self: n.st.Cluster.Node, Embedded: n.st.Cluster.Etcd == nil,
		Health: n.cl.Health, View: n.view.View}
	return func(ctx context.Context) admin.Status {
		st := admin.Status{Node: n.st.Cluster.Node, Zone: n.st.Cluster.Zone, Site: n.st.Cluster.Site,
			Version: n.opts.Version, StartedAt: n.started, Jobs: jobs.Summaries(), Checks: checks.Summaries(), Cluster: view.Status(),
			Upgrade: n.upgradeStatus()}
		for _, a := range n.edgeAddrList() {
			st.Edge = append(st.Edge, a.String())
		}
		for _, a := range n.apps.Apps() {
			st.Apps = append(st.Apps, admin.AppStatusOf(a.Status()))
		}
		if db := n.database; db != nil {
			s := admin.DatabaseOf{DB: db.db}.Status(ctx)
			st.Database = &s
		}
		if n.sites != nil {
			s := admin.SitesOf{C: n.sites.ctl}.Status(ctx)
			st.Sites = &s
		}
		st.Storage = n.storage.status()
		if n.backup != nil {
			s := n.backup.Status()
			st.Backup = &s
		}
		return st
	}
}

// prepareAdmin creates the admin state directory, copies the tokens the
// node kept before it was part of a cluster into the cluster and, on the
// first start, creates the node's root token. It needs the cluster open.
// The token's value is never logged: only where it is.
//
// A control plane that does not answer is asked again until
// credentialsTimeout: a node that starts while etcd elects a leader, or
// on a loaded machine, gets a timeout that the next try does not. Both
// steps can be repeated: a token copied already is left, and a root
// token created by a try whose answer was lost is revoked by the next.
func (n *Node) prepareAdmin(ctx context.Context) error {
	return n.prepareAdminIn(ctx, n.tokens)
}

// prepareAdminIn is prepareAdmin with the tokens in store.
func (n *Node) prepareAdminIn(ctx context.Context, store admin.TokenStore) error {
	if err := os.MkdirAll(n.adminDir(), 0o700); err != nil {
		return fmt.Errorf("prepare admin: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	err := n.prepareTokens(ctx, store)
	if errors.Is(err, admin.ErrUnavailable) {
		n.log.Warn("admin tokens not ready: the control plane did not answer; asking again", "err", err, "for", credentialsTimeout.String())
	}
	for errors.Is(err, admin.ErrUnavailable) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(credentialsRetry):
			err = n.prepareTokens(ctx, store)
		}
	}
	if err != nil {
		return fmt.Errorf("prepare admin: %w", err)
	}
	return nil
}

// prepareTokens migrates the node's old tokens into store and ensures
// its root token there.
func (n *Node) prepareTokens(ctx context.Context, store admin.TokenStore) error {
	path := filepath.Join(n.adminDir(), tokensFile)
	migrated, err := admin.MigrateTokens(ctx, path, store)
	if err != nil {
		return err
	}
	if migrated > 0 {
		n.log.Info("admin tokens copied to the cluster", "tokens", migrated, "file", path+".migrated")
	}
	path = RootTokenFile(n.st)
	id, created, err := admin.EnsureRootToken(ctx, store, path, admin.NodeRootTokenName(n.st.Cluster.Node))
	if err != nil {
		return err
	}
	if created {
		n.log.Info("admin root token created", "token", id, "file", path)
	}
	return nil
}

// nodeDatabase is the admin API's database: the node's member or
// follower, which exists once the node runs (the cluster's certificates
// come first).
type nodeDatabase struct{ n *Node }

func (d nodeDatabase) part() (admin.DatabaseOf, error) {
	if d.n.database == nil {
		return admin.DatabaseOf{}, admin.Errorf(admin.ErrUnavailable, "the database is not open yet")
	}
	return admin.DatabaseOf{DB: d.n.database.db}, nil
}

func (d nodeDatabase) Status(ctx context.Context) admin.DatabaseStatus {
	p, err := d.part()
	if err != nil {
		return admin.DatabaseStatus{Node: d.n.st.Cluster.Node, Error: err.Error(), Members: []admin.DatabaseMember{}}
	}
	return p.Status(ctx)
}

func (d nodeDatabase) Switchover(ctx context.Context, to string) error {
	p, err := d.part()
	if err != nil {
		return err
	}
	return p.Switchover(ctx, to)
}
