package admin

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster/clustertest"
)

// The token stores' contract: every TokenStore passes testTokenStore.

// testTokenStore checks what the admin API relies on of a token store:
// create, a second create of an id refused, lookup, touch moving the last
// use forward only, list oldest first, revoke, and the errors of unknown
// ids. reopen returns a new store on the same state (the same file, the
// same cluster), which must see everything the first one did.
func testTokenStore(t *testing.T, s TokenStore, reopen func() TokenStore) {
	t.Helper()
	ctx := context.Background()
	if ts, err := s.List(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("List of a new store = %v, %v; want none", ts, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	a, _, _ := IssueToken("a", []Scope{ScopeRead}, "test", now, 0)
	b, _, _ := IssueToken("b", []Scope{ScopeDeploy, ScopePurge}, "test", now.Add(time.Second), time.Hour)
	for _, tok := range []Token{a, b} {
		if err := s.Create(ctx, tok); err != nil {
			t.Fatalf("Create(%s) = %v", tok.Name, err)
		}
	}
	if err := s.Create(ctx, a); !errors.Is(err, ErrConflict) {
		t.Errorf("Create(existing id) = %v; want ErrConflict", err)
	}
	used := now.Add(time.Minute)
	if err := s.Touch(ctx, a.ID, used); err != nil {
		t.Fatalf("Touch = %v", err)
	}
	if err := s.Touch(ctx, a.ID, now); err != nil {
		t.Fatalf("Touch(earlier) = %v", err)
	}
	if err := s.Touch(ctx, "nope", used); err != nil && !errors.Is(err, ErrNotFound) {
		t.Errorf("Touch(unknown) = %v; want nil or ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := s.Lookup(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(unknown) = %v; want ErrNotFound", err)
	}

	s2 := reopen()
	got, err := s2.Lookup(ctx, a.ID)
	if err != nil || got.Name != "a" || got.Hash != a.Hash || !got.LastUsed.Equal(used) || !got.Created.Equal(a.Created) || got.CreatedBy != "test" {
		t.Errorf("Lookup(a) on a second store = %+v, %v; want %+v last used %v (a touch never moves it back)", got, err, a, used)
	}
	list, err := s2.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID || !list[1].Expires.Equal(b.Expires) || len(list[1].Scopes) != 2 {
		t.Errorf("List on a second store = %+v, %v; want a then b", list, err)
	}
	if err := s2.Revoke(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Lookup(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(revoked) = %v; want ErrNotFound", err)
	}
	if err := s2.Revoke(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(revoked) = %v; want ErrNotFound", err)
	}
}

func TestFileTokenStoreContract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	testTokenStore(t, NewFileTokenStore(path), func() TokenStore { return NewFileTokenStore(path) })
}

// TestRecordTokenStoreContract runs the contract against the cluster's
// token records on a real one-member embedded etcd.
func TestRecordTokenStoreContract(t *testing.T) {
	c := clustertest.Start(t, "a")
	newStore := func() TokenStore {
		rec, err := c.TokenRecords()
		if err != nil {
			t.Fatal(err)
		}
		return NewRecordTokenStore(rec, c)
	}
	testTokenStore(t, newStore(), newStore)
}
