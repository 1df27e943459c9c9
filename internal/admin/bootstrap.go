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

// RootTokenName names the admin token a node makes for itself; in a
// cluster, where every node's root token is valid on every node, each
// node's is named NodeRootTokenName(node).
const RootTokenName = "root"

// NodeRootTokenName is the name of the root token of node: "root@<node>",
// cut to the longest token name allowed.
func NodeRootTokenName(node string) string {
	name := RootTokenName + "@" + node
	if len(name) > maxTokenName {
		name = name[:maxTokenName]
	}
	return name
}

// bootstrapCreator is the created_by of root tokens.
const bootstrapCreator = "bootstrap"

// EnsureRootToken makes sure the file at path holds a valid token of
// store with scope admin. On a node's first start, or when that token is
// gone (revoked, expired, the file deleted), it creates a new root token
// called name, writes it to path (mode 0600, atomically) and revokes the
// root tokens called name made before it, and the token the file held, so
// that revoking the root token and restarting the node rotates it. Root
// tokens of other names (other nodes' in a shared store) stay. It returns
// the token's id and whether it is new. The token itself is never logged
// or returned. A store that fails (other than ErrNotFound) fails it, so
// that an unavailable store never rotates a valid token.
func EnsureRootToken(ctx context.Context, store TokenStore, path, name string) (id string, created bool, err error) {
	id, ok, err := validRootToken(ctx, store, path)
	if err != nil {
		return "", false, fmt.Errorf("check root token: %w", err)
	}
	if ok {
		return id, false, nil
	}
	old := id
	tok, value, err := IssueToken(name, []Scope{ScopeAdmin}, bootstrapCreator, time.Now(), 0)
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
		if t.ID != tok.ID && (t.ID == old || t.CreatedBy == bootstrapCreator && t.Name == name) {
			if err := store.Revoke(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return "", false, fmt.Errorf("revoke old root token %s: %w", t.ID, err)
			}
		}
	}
	return tok.ID, true, nil
}

// validRootToken reports whether path holds a token that store accepts
// with scope admin; it returns the id of the token the file holds, if
// any. Only a failing store is an error.
func validRootToken(ctx context.Context, store TokenStore, path string) (string, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, nil
	}
	id, secret, err := ParseToken(strings.TrimSpace(string(data)))
	if err != nil {
		return "", false, nil
	}
	t, err := store.Lookup(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return id, false, nil
	case err != nil:
		return "", false, err
	}
	return id, t.Verify(secret) && !t.Expired(time.Now()) && Grants(t.Scopes, ScopeAdmin), nil
}
