package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// slowStore is a token store whose first creates fail the way a control
// plane that did not answer in time fails them.
type slowStore struct {
	admin.TokenStore
	fails int
}

func (s *slowStore) Create(ctx context.Context, t admin.Token) error {
	if s.fails > 0 {
		s.fails--
		return admin.Errorf(admin.ErrUnavailable, "create token %s: the control plane (etcd) did not answer: context deadline exceeded", t.ID)
	}
	return s.TokenStore.Create(ctx, t)
}

// TestPrepareAdminAsksAgain: a node whose control plane does not answer
// at first (a leader election, a loaded machine) asks again rather than
// giving up its start, and ends with one valid root token.
func TestPrepareAdminAsksAgain(t *testing.T) {
	dir := t.TempDir()
	n := &Node{st: &config.Stack{Cluster: config.Cluster{Node: "a", DataDir: dir}}, log: slog.New(slog.DiscardHandler)}
	file := admin.NewFileTokenStore(filepath.Join(t.TempDir(), "tokens.json"))
	store := &slowStore{TokenStore: file, fails: 2}
	if err := n.prepareAdminIn(t.Context(), store); err != nil {
		t.Fatalf("prepareAdmin with a control plane that answers on the third try = %v", err)
	}
	if store.fails != 0 {
		t.Errorf("%d failing creates left; want both asked through", store.fails)
	}
	value, err := os.ReadFile(RootTokenFile(n.st))
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := admin.ParseToken(strings.TrimSpace(string(value)))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := file.Lookup(t.Context(), id); err != nil || !tok.Verify(secret) {
		t.Errorf("the root token written: lookup %v, verified %v; want one the store holds", err, err == nil && tok.Verify(secret))
	}
	toks, err := file.List(t.Context())
	if err != nil || len(toks) != 1 {
		t.Errorf("tokens in the store = %d, %v; want the one root token", len(toks), err)
	}
}

// TestPrepareAdminGivesUp: a failure that is not the control plane's
// silence ends the start at once.
func TestPrepareAdminGivesUp(t *testing.T) {
	dir := t.TempDir()
	n := &Node{st: &config.Stack{Cluster: config.Cluster{Node: "a", DataDir: dir}}, log: slog.New(slog.DiscardHandler)}
	// The admin directory cannot be made: a file stands in its place.
	if err := os.WriteFile(filepath.Join(dir, adminDirName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.prepareAdminIn(t.Context(), admin.NewFileTokenStore(filepath.Join(t.TempDir(), "tokens.json"))); err == nil || !strings.Contains(err.Error(), "prepare admin") {
		t.Errorf("prepareAdmin without its directory = %v; want an error naming it", err)
	}
}
