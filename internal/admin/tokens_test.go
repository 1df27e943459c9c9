package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssueAndVerify(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tok, value, err := IssueToken("ci", []Scope{ScopeRead, ScopeDeploy, ScopeRead}, "root (x)", now, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := ParseToken(value)
	if err != nil || id != tok.ID {
		t.Fatalf("ParseToken(issued) = %q, _, %v; want id %q", id, err, tok.ID)
	}
	if !tok.Verify(secret) {
		t.Error("Verify(its own secret) = false; want true")
	}
	if strings.Contains(tok.Hash, secret) || tok.Hash == "" {
		t.Errorf("Hash = %q; want the SHA-256 of the secret, not the secret", tok.Hash)
	}
	other := []byte(secret)
	other[0] ^= 1
	if tok.Verify(string(other)) || tok.Verify("") {
		t.Error("Verify(another secret) = true; want false")
	}
	if scopeList(tok.Scopes) != "deploy,read" {
		t.Errorf("Scopes = %q; want deploy,read", tok.Scopes)
	}
	if !tok.Expires.Equal(now.Add(30*24*time.Hour)) || tok.Expired(now.Add(29*24*time.Hour)) || !tok.Expired(now.Add(30*24*time.Hour)) {
		t.Errorf("Expires = %v; want 30 days after %v, and expired from then on", tok.Expires, now)
	}
	if tok.public().Hash != "" {
		t.Error("public() keeps the hash")
	}
	_, value2, _ := IssueToken("ci", []Scope{ScopeRead}, "", now, 0)
	if value2 == value {
		t.Error("two issued tokens are equal")
	}
	for _, bad := range []struct {
		name   string
		scopes []Scope
		ttl    time.Duration
	}{{"", []Scope{ScopeRead}, 0}, {"a b", []Scope{ScopeRead}, 0}, {"ci", nil, 0}, {"ci", []Scope{"all"}, 0}, {"ci", []Scope{ScopeRead}, -time.Second}} {
		if _, _, err := IssueToken(bad.name, bad.scopes, "", now, bad.ttl); !errors.Is(err, ErrBadRequest) {
			t.Errorf("IssueToken(%q, %q, %v) = %v; want ErrBadRequest", bad.name, bad.scopes, bad.ttl, err)
		}
	}
}

func TestParseToken(t *testing.T) {
	secret := strings.Repeat("A", 43) // 32 zero bytes
	tests := []struct {
		in     string
		wantID string // "" when refused
	}{
		{"tdm_0123456789abcdef_" + secret, "0123456789abcdef"},
		{"tdm_0123456789abcdef_" + strings.Repeat("_-", 21) + "w", "0123456789abcdef"},
		{"0123456789abcdef_" + secret, ""},
		{"TDM_0123456789abcdef_" + secret, ""},
		{"tdm_0123456789ABCDEF_" + secret, ""},
		{"tdm_0123456789abcde_" + secret, ""},
		{"tdm_0123456789abcdef0_" + secret, ""},
		{"tdm_0123456789abcdef" + secret, ""},
		{"tdm_0123456789abcdef_" + secret[:42], ""},
		{"tdm_0123456789abcdef_" + secret + "A", ""},
		{"tdm_0123456789abcdef_" + secret + "=", ""},
		{"tdm_0123456789abcdef_" + secret[:42] + "B", ""}, // non-canonical last character
		{"tdm_0123456789abcdef_" + secret[:42] + "+", ""},
		{"tdm_0123456789abcdef_ " + secret[1:], ""},
		{"", ""},
		{"tdm_", ""},
	}
	for _, tt := range tests {
		id, _, err := ParseToken(tt.in)
		if id != tt.wantID || (err == nil) != (tt.wantID != "") {
			t.Errorf("ParseToken(%q) = %q, %v; want id %q", tt.in, id, err, tt.wantID)
		}
		if err != nil && !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%q) error %v does not match ErrMalformedToken", tt.in, err)
		}
	}
}

// FuzzParseToken: ParseToken never panics, and what it accepts is exactly
// prefix, 16 hex digits, "_" and 32 bytes of canonical base64url.
func FuzzParseToken(f *testing.F) {
	_, value, _ := IssueToken("f", []Scope{ScopeRead}, "", time.Now(), 0)
	f.Add(value)
	f.Add("tdm_0123456789abcdef_" + strings.Repeat("A", 43))
	f.Add("tdm_0123456789abcdef_" + strings.Repeat("A", 42) + "B")
	f.Add("tdm__")
	f.Add("Bearer tdm_")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseToken(s)
		if err != nil {
			return
		}
		if s != TokenPrefix+id+"_"+secret {
			t.Fatalf("ParseToken(%q) = %q, %q; they do not make up the input", s, id, secret)
		}
		if len(id) != 16 || !isLowerHex(id) {
			t.Fatalf("ParseToken(%q) id = %q; want 16 lower-case hex digits", s, id)
		}
		raw, err := secretEncoding.DecodeString(secret)
		if err != nil || len(raw) != 32 || secretEncoding.EncodeToString(raw) != secret {
			t.Fatalf("ParseToken(%q) secret = %q; want canonical base64url of 32 bytes", s, secret)
		}
	})
}

// TestFileTokenStoreFile: the file is private and holds hashes only (the
// contract itself is testTokenStore's).
func TestFileTokenStoreFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.json")
	b, secret, _ := IssueToken("b", []Scope{ScopeDeploy}, "test", time.Now(), time.Hour)
	if err := NewFileTokenStore(path).Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), secret) || strings.Contains(string(data), `"secret"`) || !strings.Contains(string(data), b.Hash) {
		t.Errorf("token file holds %s; want hashes only", data)
	}
}

// TestFileTokenStoreCorrupt: a damaged file is an error, never an empty
// store that would let a new root token replace the old ones unnoticed.
func TestFileTokenStoreCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte(`{"tokens": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewFileTokenStore(path)
	if _, err := s.Lookup(context.Background(), "0123456789abcdef"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup on a corrupt file = %v; want a read error", err)
	}
	tok, _, _ := IssueToken("a", []Scope{ScopeRead}, "", time.Now(), 0)
	if err := s.Create(context.Background(), tok); err == nil {
		t.Error("Create on a corrupt file = nil; want an error")
	}
}

func TestEnsureRootToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := NewFileTokenStore(filepath.Join(dir, "tokens.json"))
	path := filepath.Join(dir, "root.token")
	id, created, err := EnsureRootToken(ctx, store, path, RootTokenName)
	if err != nil || !created {
		t.Fatalf("EnsureRootToken (first start) = %q, %v, %v; want a new token", id, created, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("root token file mode = %v; want 0600", fi.Mode().Perm())
	}
	gotID, _, err := ParseToken(strings.TrimSpace(string(data)))
	if err != nil || gotID != id {
		t.Fatalf("root.token holds %q (%v); want token %s", data, err, id)
	}
	tok, _ := store.Lookup(ctx, id)
	if tok.Name != RootTokenName || scopeList(tok.Scopes) != "admin" {
		t.Errorf("root token = %+v; want name root, scope admin", tok)
	}

	again, created, err := EnsureRootToken(ctx, store, path, RootTokenName)
	if err != nil || created || again != id {
		t.Errorf("EnsureRootToken (second start) = %q, %v, %v; want %q kept", again, created, err, id)
	}

	// Revoked: the next start makes a new one.
	if err := store.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	id2, created, err := EnsureRootToken(ctx, store, path, RootTokenName)
	if err != nil || !created || id2 == id {
		t.Fatalf("EnsureRootToken after revocation = %q, %v, %v; want a new token", id2, created, err)
	}
	// The file deleted: a new one, and the one it held is revoked.
	os.Remove(path)
	id3, created, err := EnsureRootToken(ctx, store, path, RootTokenName)
	if err != nil || !created {
		t.Fatalf("EnsureRootToken after deletion = %q, %v, %v; want a new token", id3, created, err)
	}
	if _, err := store.Lookup(ctx, id2); !errors.Is(err, ErrNotFound) {
		t.Errorf("the replaced root token %s: Lookup = %v; want it revoked", id2, err)
	}
	if all, _ := store.List(ctx); len(all) != 1 {
		t.Errorf("store holds %d tokens; want the one root token", len(all))
	}
}

// TestEnsureRootTokenShared: nodes sharing one store each keep their own
// root token; rotating one leaves the others valid, and a store that
// fails rotates nothing.
func TestEnsureRootTokenShared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := NewFileTokenStore(filepath.Join(dir, "tokens.json"))
	pathA, pathB := filepath.Join(dir, "a.token"), filepath.Join(dir, "b.token")
	idA, _, err := EnsureRootToken(ctx, store, pathA, NodeRootTokenName("a"))
	if err != nil {
		t.Fatal(err)
	}
	idB, _, err := EnsureRootToken(ctx, store, pathB, NodeRootTokenName("b"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := store.Lookup(ctx, idB); tok.Name != "root@b" {
		t.Errorf("node b's root token is named %q; want root@b", tok.Name)
	}
	os.Remove(pathA)
	idA2, created, err := EnsureRootToken(ctx, store, pathA, NodeRootTokenName("a"))
	if err != nil || !created {
		t.Fatalf("EnsureRootToken for a after deletion = %q, %v, %v; want a new token", idA2, created, err)
	}
	if _, err := store.Lookup(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("a's replaced root token: Lookup = %v; want it revoked", err)
	}
	if again, created, err := EnsureRootToken(ctx, store, pathB, NodeRootTokenName("b")); err != nil || created || again != idB {
		t.Errorf("EnsureRootToken for b after a rotated = %q, %v, %v; want %q kept", again, created, err, idB)
	}

	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := NewFileTokenStore(filepath.Join(dir, "tokens.json"))
	if _, _, err := EnsureRootToken(ctx, broken, pathB, NodeRootTokenName("b")); err == nil {
		t.Error("EnsureRootToken with a failing store = nil error; want one")
	}

	long := NodeRootTokenName(strings.Repeat("n", 100))
	if _, _, err := IssueToken(long, []Scope{ScopeAdmin}, "", time.Now(), 0); err != nil {
		t.Errorf("NodeRootTokenName of a long node name = %q, not a valid name: %v", long, err)
	}
}
