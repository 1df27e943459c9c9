package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// statusWith runs `tandem status` against cn's admin API with token.
func statusWith(t *testing.T, cn *clusterNode, token string) (string, int) {
	t.Helper()
	return runCLI(t, "status", "--admin", cn.admin, "--token", token)
}

// TestClusterTokens: admin tokens are the cluster's. A read token made on
// node A works on B and C; each node's root token works on the others; a
// revocation on C is refused by A within a few seconds; and while the
// cluster has no quorum, a token already in use keeps reading A's status,
// but no token can be made (503, said clearly).
func TestClusterTokens(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterStack, "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]

	reader := a.createToken("reader", "--scope", "read")
	for _, cn := range []*clusterNode{b, c} {
		if out, code := statusWith(t, cn, reader.Value); code != 0 || !strings.Contains(out, a.name) {
			t.Errorf("tandem status on %s with a read token made on %s: exit %d; want 0 and the cluster\n%s", cn.name, a.name, code, out)
		}
	}
	if out, code := runCLI(t, "token", "create", "x", "--scope", "read", "--admin", b.admin, "--token", reader.Value); code != 1 || !strings.Contains(out, "scope") {
		t.Errorf("tandem token create on %s with a read token: exit %d; want 1, refused for its scope\n%s", b.name, code, out)
	}
	for _, from := range nodes {
		to := nodes[(slices.Index(nodes, from)+1)%len(nodes)]
		if out, code := runCLI(t, "status", "--admin", to.admin, "--token-file", from.tokenFile); code != 0 {
			t.Errorf("tandem status on %s with %s's root token: exit %d; want 0\n%s", to.name, from.name, code, out)
		}
	}
	out, code := c.cli("token", "list", "--json")
	var listed admin.TokenList
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil {
		t.Fatalf("tandem token list on %s: exit %d, %v\n%s", c.name, code, err, out)
	}
	var names []string
	for _, tok := range listed.Tokens {
		names = append(names, tok.Name)
	}
	slices.Sort(names)
	if want := []string{"reader", "root@node-a", "root@node-b", "root@node-c"}; !slices.Equal(names, want) {
		t.Errorf("tandem token list on %s = %q; want %q", c.name, names, want)
	}

	// Revoked on C: A, which used the token a moment ago, refuses it soon.
	if _, code := statusWith(t, a, reader.Value); code != 0 {
		t.Fatalf("tandem status on %s with the read token: exit %d; want 0", a.name, code)
	}
	if out, code := c.cli("token", "revoke", reader.ID); code != 0 {
		t.Fatalf("tandem token revoke on %s: exit %d\n%s", c.name, code, out)
	}
	if out, code := statusWith(t, c, reader.Value); code != 1 || !strings.Contains(out, "revoked") {
		t.Errorf("tandem status on %s right after revoking there: exit %d; want 1, revoked\n%s", c.name, code, out)
	}
	revoked := time.Now()
	for {
		out, code := statusWith(t, a, reader.Value)
		if code == 1 && strings.Contains(out, "revoked") {
			t.Logf("%s refused the revoked token after %s", a.name, time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Since(revoked) > 6*time.Second {
			t.Fatalf("tandem status on %s with a token revoked on %s %s ago: exit %d; want 1, revoked\n%s", a.name, c.name, time.Since(revoked), code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// No quorum: reads with a known token go on, changes are refused.
	ci := b.createToken("ci", "--scope", "read")
	if out, code := statusWith(t, a, ci.Value); code != 0 {
		t.Fatalf("tandem status on %s with a token made on %s: exit %d\n%s", a.name, b.name, code, out)
	}
	b.kill(t)
	c.kill(t)
	a.waitFor("no quorum", 30*time.Second, func(st admin.Status) bool { return st.Cluster != nil && !st.Cluster.Quorum })
	time.Sleep(4 * time.Second) // past the lookup cache: the token is read again
	if out, code := statusWith(t, a, ci.Value); code != 0 || !strings.Contains(out, "UNAVAILABLE") {
		t.Errorf("tandem status on %s without quorum, with a known token: exit %d; want 0 and the control plane unavailable\n%s", a.name, code, out)
	}
	out, code = a.cli("token", "create", "late", "--scope", "read")
	if code != 1 || !strings.Contains(out, "no quorum") {
		t.Errorf("tandem token create on %s without quorum: exit %d; want 1 and why\n%s", a.name, code, out)
	}
	if out, code := a.cli("token", "revoke", ci.ID); code != 1 || !strings.Contains(out, "no quorum") {
		t.Errorf("tandem token revoke on %s without quorum: exit %d; want 1 and why\n%s", a.name, code, out)
	}
}

// TestTokensMigrated: the tokens a node kept in its own tokens.json
// before its tokens were the cluster's are copied into the cluster on its
// next start, and the file is renamed so that nothing is copied twice.
func TestTokensMigrated(t *testing.T) {
	t.Parallel()
	sf := writeStack(t, authTestapp)
	st, err := config.Load(sf.path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(st.Cluster.DataDir, "admin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old, value, err := admin.IssueToken("grafana", []admin.Scope{admin.ScopeRead}, "root (0123456789abcdef)", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.NewFileTokenStore(filepath.Join(dir, "tokens.json")).Create(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	n := startStack(t, sf)
	n.waitFor("1 healthy instance", 20*time.Second, healthy("web", 1))
	if out, code := runCLI(t, "status", "--admin", n.admin, "--token", value); code != 0 {
		t.Errorf("tandem status with a token of the old tokens.json: exit %d; want 0\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokens.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tokens.json after the start: %v; want it renamed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokens.json.migrated")); err != nil {
		t.Errorf("tokens.json.migrated: %v; want the old file kept there", err)
	}
}
