package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// RootTokenName names the admin token a node makes for itself.
const RootTokenName = "root"

// bootstrapCreator is the created_by of root tokens.
const bootstrapCreator = "bootstrap"

// EnsureRootToken makes sure the file at path holds a valid token of
// store with scope admin. On a node's first start, or when that token is
// gone (revoked, expired, the file deleted), it creates a new root token,
// writes it to path (mode 0600, atomically) and revokes the root tokens
// made before it, so that revoking the root token and restarting the
// node rotates it. It returns the token's id and whether it is new. The
// token itself is never logged or returned.
func EnsureRootToken(ctx context.Context, store TokenStore, path string) (id string, created bool, err error) {
	if id, ok := validRootToken(ctx, store, path); ok {
		return id, false, nil
	}
	tok, value, err := IssueToken(RootTokenName, []Scope{ScopeAdmin}, bootstrapCreator, time.Now(), 0)
	if err != nil {
		return "", false, fmt.Errorf("create root token: %w", err)
	}
	if err := store.Create(ctx, tok); err != nil {
		return "", false, fmt.Errorf("create root token: %w", err)
	}
	if err := atomicfile.Write(path, []byte(value+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("create root token: %w", err)
	}
	all, err := store.List(ctx)
	if err != nil {
		return "", false, fmt.Errorf("revoke old root tokens: %w", err)
	}
	for _, t := range all {
		if t.CreatedBy == bootstrapCreator && t.ID != tok.ID {
			if err := store.Revoke(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return "", false, fmt.Errorf("revoke old root token %s: %w", t.ID, err)
			}
		}
	}
	return tok.ID, true, nil
}

// validRootToken reports whether path holds a token that store accepts
// with scope admin.
func validRootToken(ctx context.Context, store TokenStore, path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	id, secret, err := ParseToken(strings.TrimSpace(string(data)))
	if err != nil {
		return "", false
	}
	t, err := store.Lookup(ctx, id)
	if err != nil || !t.Verify(secret) || t.Expired(time.Now()) || !Grants(t.Scopes, ScopeAdmin) {
		return "", false
	}
	return id, true
}
