package admin

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

	"github.com/tandem-run/tandem/internal/cluster"
)

// TokenRecords keeps tokens as opaque records, by id;
// *cluster.TokenRecords implements it (see its documentation for how
// reads are cached and served without quorum).
type TokenRecords interface {
	Create(ctx context.Context, id string, value []byte) error
	Get(ctx context.Context, id string) ([]byte, error)
	List(ctx context.Context) (map[string][]byte, error)
	Update(ctx context.Context, id string, change func(old []byte) ([]byte, bool)) error
	Delete(ctx context.Context, id string) error
}

// Quorum tells whether the control plane can take a change now;
// *cluster.Cluster implements it.
type Quorum interface {
	RequireQuorum(op string) error
}

// RecordTokenStore is the token store of a cluster: tokens kept as
// records in etcd, so that a token made on any node (each node's root
// token too) works on every node and a revocation holds everywhere.
// Lookups are cached for a few seconds: another node's revocation takes
// effect here within that time, and while the cluster has no quorum the
// tokens already seen keep working. Creating and revoking tokens needs a
// quorum: without one they fail at once with ErrUnavailable (503).
type RecordTokenStore struct {
	rec    TokenRecords
	quorum Quorum
}

var _ TokenStore = (*RecordTokenStore)(nil)

// NewRecordTokenStore returns the token store over rec; changes are
// refused while quorum says the control plane cannot take them.
func NewRecordTokenStore(rec TokenRecords, quorum Quorum) *RecordTokenStore {
	return &RecordTokenStore{rec: rec, quorum: quorum}
}

// writable refuses a change while the cluster has no quorum.
func (s *RecordTokenStore) writable(op string) error {
	if err := s.quorum.RequireQuorum(op); err != nil {
		return Errorf(ErrUnavailable, "%v; tokens already in use keep working", err)
	}
	return nil
}

// recordErr maps an error of the token records to the API's.
func recordErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNoRecord):
		return Errorf(ErrNotFound, "%s: no such token", op)
	case errors.Is(err, cluster.ErrRecordExists):
		return Errorf(ErrConflict, "%s: token exists", op)
	}
	return Errorf(ErrUnavailable, "%s: the control plane (etcd) did not answer: %v", op, err)
}

// Create implements TokenStore.
func (s *RecordTokenStore) Create(ctx context.Context, t Token) error {
	op := "create token " + t.ID
	if err := s.writable(op); err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	return recordErr(op, s.rec.Create(ctx, t.ID, data))
}

// List implements TokenStore: every token, oldest first.
func (s *RecordTokenStore) List(ctx context.Context) ([]Token, error) {
	recs, err := s.rec.List(ctx)
	if err != nil {
		return nil, recordErr("list tokens", err)
	}
	ts := make([]Token, 0, len(recs))
	for id, data := range recs {
		var t Token
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("list tokens: token %s: %w", id, err)
		}
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b Token) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return ts, nil
}

// Revoke implements TokenStore.
func (s *RecordTokenStore) Revoke(ctx context.Context, id string) error {
	op := "revoke token " + id
	if err := s.writable(op); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	return recordErr(op, s.rec.Delete(ctx, id))
}

// Lookup implements TokenStore.
func (s *RecordTokenStore) Lookup(ctx context.Context, id string) (Token, error) {
	op := "look up token " + id
	data, err := s.rec.Get(ctx, id)
	if err != nil {
		return Token{}, recordErr(op, err)
	}
	var t Token
	if err := json.Unmarshal(data, &t); err != nil {
		return Token{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// Touch implements TokenStore. Without quorum it records nothing and
// reports nothing: the last use is advisory, and the API call that used
// the token must not wait for etcd.
func (s *RecordTokenStore) Touch(ctx context.Context, id string, at time.Time) error {
	if s.quorum.RequireQuorum("record a token's use") != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	defer cancel()
	err := s.rec.Update(ctx, id, func(old []byte) ([]byte, bool) {
		var t Token
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
	return recordErr("record use of token "+id, err)
}

// MigrateTokens copies the tokens of a node's own token file (path), kept
// before its tokens were the cluster's, into to, and then renames the
// file to <path>.migrated, so that tokens revoked later are not copied
// again. Tokens already there are left as they are: a copy that stopped
// half-way is finished on the next start. It returns how many tokens the
// file held; 0 and nil when there is no file.
func MigrateTokens(ctx context.Context, path string, to TokenStore) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	old, err := NewFileTokenStore(path).List(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate tokens: %w", err)
	}
	for _, t := range old {
		if err := to.Create(ctx, t); err != nil && !errors.Is(err, ErrConflict) {
			return 0, fmt.Errorf("migrate tokens: %w", err)
		}
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		return 0, fmt.Errorf("migrate tokens: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, fmt.Errorf("migrate tokens: %w", err)
	}
	return len(old), nil
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
