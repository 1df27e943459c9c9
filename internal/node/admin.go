package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// The admin API's state lives in <data_dir>/admin: the audit log, and the
// root token the node makes on its first start. The tokens (hashed) live
// in the cluster; tokens.json is where a node kept them before, copied
// into the cluster on its first start with one (see migrateTokens).
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

// newAdmin builds the admin API server; it touches no file. Its tokens
// are the cluster's, usable once the cluster is open.
func (n *Node) newAdmin() (*admin.Server, error) {
	var err error
	if n.tokens, err = newTokenStore(n.cl.c); err != nil {
		return nil, err
	}
	n.audit = admin.NewAuditLog(filepath.Join(n.adminDir(), auditFile))
	o := admin.Options{
		Listen:  n.st.Admin.Listen,
		Status:  n.status,
		Purge:   n.adminPurge,
		Deploys: n,
		Tokens:  n.tokens,
		Audit:   n.audit,
		Logger:  n.log,
		Metrics: n.tel.metrics.Handler(),
		Series:  n.tel,
		Cluster: clusterAdmin{n},
	}
	if n.jobs != nil {
		o.Jobs = n
	}
	if n.checks != nil {
		o.Checks = n
	}
	if t := n.st.Admin.TLS; t != nil {
		o.TLSCert, o.TLSKey = t.Cert, t.Key
	}
	return admin.New(o)
}

// prepareAdmin creates the admin state directory, copies the tokens the
// node kept before it was part of a cluster into the cluster and, on the
// first start, creates the node's root token. It needs the cluster open.
// The token's value is never logged: only where it is.
func (n *Node) prepareAdmin(ctx context.Context) error {
	if err := os.MkdirAll(n.adminDir(), 0o700); err != nil {
		return fmt.Errorf("prepare admin: %w", err)
	}
	if err := n.migrateTokens(ctx); err != nil {
		return fmt.Errorf("prepare admin: %w", err)
	}
	path := RootTokenFile(n.st)
	id, created, err := admin.EnsureRootToken(ctx, n.tokens, path, admin.NodeRootTokenName(n.st.Cluster.Node))
	if err != nil {
		return fmt.Errorf("prepare admin: %w", err)
	}
	if created {
		n.log.Info("admin root token created", "token", id, "file", path)
	}
	return nil
}
