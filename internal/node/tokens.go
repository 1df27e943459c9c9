package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
)

// tokenStore is the admin API's token store: the cluster's token records
// in etcd, so that a token made on any node (each node's root token too)
// works on every node and a revocation holds everywhere. Lookups are
// cached for a few seconds (cluster.TokenRecords): another node's
// revocation takes effect here within that time, and while the cluster
// has no quorum the tokens already seen keep working. Creating and
// revoking tokens needs a quorum: without one they fail at once with
// admin.ErrUnavailable (503).
type tokenStore struct {
	c   *cluster.Cluster
	rec *cluster.TokenRecords
}

var _ admin.TokenStore = (*tokenStore)(nil)

// newTokenStore returns the token store of c, usable once c is open.
func newTokenStore(c *cluster.Cluster) (*tokenStore, error) {
	rec, err := cluster.NewTokenRecords(cluster.TokenRecordsOptions{Client: c.Client, Prefix: c.Prefix()})
	if err != nil {
		return nil, err
	}
	return &tokenStore{c: c, rec: rec}, nil
}

// writable refuses a change while the cluster has no quorum.
func (s *tokenStore) writable(op string) error {
	if h := s.c.Health(); !h.Quorum {
		return admin.Errorf(admin.ErrUnavailable, "%s: the control plane (etcd) has no quorum (%s); tokens already in use keep working, but none can be created or revoked until quorum returns", op, h.Err)
	}
	return nil
}

// storeErr maps an error of the token records to the admin API's.
func storeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNoRecord):
		return admin.Errorf(admin.ErrNotFound, "%s: no such token", op)
	case errors.Is(err, cluster.ErrRecordExists):
		return admin.Errorf(admin.ErrConflict, "%s: token exists", op)
	}
	return admin.Errorf(admin.ErrUnavailable, "%s: the control plane (etcd) did not answer: %v", op, err)
}

// Create implements admin.TokenStore.
func (s *tokenStore) Create(ctx context.Context, t admin.Token) error {
	op := "create token " + t.ID
	if err := s.writable(op); err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	return storeErr(op, s.rec.Create(ctx, t.ID, data))
}

// List implements admin.TokenStore: every token, oldest first.
func (s *tokenStore) List(ctx context.Context) ([]admin.Token, error) {
	recs, err := s.rec.List(ctx)
	if err != nil {
		return nil, storeErr("list tokens", err)
	}
	ts := make([]admin.Token, 0, len(recs))
	for id, data := range recs {
		var t admin.Token
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("list tokens: token %s: %w", id, err)
		}
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b admin.Token) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return ts, nil
}

// Revoke implements admin.TokenStore.
func (s *tokenStore) Revoke(ctx context.Context, id string) error {
	op := "revoke token " + id
	if err := s.writable(op); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	return storeErr(op, s.rec.Delete(ctx, id))
}

// Lookup implements admin.TokenStore.
func (s *tokenStore) Lookup(ctx context.Context, id string) (admin.Token, error) {
	op := "look up token " + id
	data, err := s.rec.Get(ctx, id)
	if err != nil {
		return admin.Token{}, storeErr(op, err)
	}
	var t admin.Token
	if err := json.Unmarshal(data, &t); err != nil {
		return admin.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// Touch implements admin.TokenStore. Without quorum it records nothing
// and reports nothing: the last use is advisory, and the API call that
// used the token must not wait for etcd.
func (s *tokenStore) Touch(ctx context.Context, id string, at time.Time) error {
	if !s.c.Health().Quorum {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	err := s.rec.Update(ctx, id, func(old []byte) ([]byte, bool) {
		var t admin.Token
		if json.Unmarshal(old, &t) != nil || !at.After(t.LastUsed) {
			return nil, false
		}
		t.LastUsed = at.UTC()
		data, err := json.Marshal(t)
		return data, err == nil
	})
	if errors.Is(err, cluster.ErrNoRecord) {
		return nil // revoked meanwhile
	}
	return storeErr("record use of token "+id, err)
}

// migrateTokens copies the tokens of the node's own token file, kept
// before its tokens were the cluster's, into the cluster, and then
// renames the file to tokens.json.migrated, so that tokens revoked later
// are not copied again. Tokens already there are left as they are: a
// copy that stopped half-way is finished on the next start.
func (n *Node) migrateTokens(ctx context.Context) error {
	path := filepath.Join(n.adminDir(), tokensFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old, err := admin.NewFileTokenStore(path).List(ctx)
	if err != nil {
		return fmt.Errorf("migrate tokens: %w", err)
	}
	for _, t := range old {
		if err := n.tokens.Create(ctx, t); err != nil && !errors.Is(err, admin.ErrConflict) {
			return fmt.Errorf("migrate tokens: %w", err)
		}
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		return fmt.Errorf("migrate tokens: %w", err)
	}
	if err := syncDir(n.adminDir()); err != nil {
		return fmt.Errorf("migrate tokens: %w", err)
	}
	n.log.Info("admin tokens copied to the cluster", "tokens", len(old), "file", path+".migrated")
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
