package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// A token string is TokenPrefix, the token's id (16 hex digits), "_" and
// its secret (32 random bytes in unpadded base64url):
// tdm_0123456789abcdef_<43 characters>. The id names the token in lists,
// the audit log and revocations; only the secret proves possession.
const (
	TokenPrefix = "tdm_"
	idBytes     = 8
	secretBytes = 32
)

// ErrMalformedToken means a string is not a token in tandem's format.
var ErrMalformedToken = errors.New("malformed token")

// secretEncoding is strict so that each secret has exactly one spelling.
var secretEncoding = base64.RawURLEncoding.Strict()

// tokenNameRE is the form of token names: readable in tables and logs.
var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// maxTokenName is the longest token name tokenNameRE allows.
const maxTokenName = 64

// Token is a stored admin API token. The secret itself is never stored:
// Hash is its SHA-256. The API sends Tokens with Hash cleared.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []Scope   `json:"scopes"`
	Hash      string    `json:"hash,omitempty"` // hex SHA-256 of the secret
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`         // the token that created it, "name (id)", or "bootstrap"
	Expires   time.Time `json:"expires,omitzero"`   // zero: never
	LastUsed  time.Time `json:"last_used,omitzero"` // to within lastUsedResolution; zero: never
}

// TokenStore keeps tokens. It stores and finds records; hashing and
// verification happen outside it, so that every implementation (a file
// on one node, etcd in a cluster) checks secrets the same way.
type TokenStore interface {
	// Create adds t; it fails with ErrConflict if t.ID exists.
	Create(ctx context.Context, t Token) error
	// List returns every token, oldest first.
	List(ctx context.Context) ([]Token, error)
	// Revoke removes the token id; ErrNotFound if there is none.
	Revoke(ctx context.Context, id string) error
	// Lookup returns the token id; ErrNotFound if there is none.
	Lookup(ctx context.Context, id string) (Token, error)
	// Touch records that the token id was used at about at. It exists so
	// that last_used survives restarts; callers call it rarely (see
	// lastUsedResolution).
	Touch(ctx context.Context, id string, at time.Time) error
}

// IssueToken makes the record of a new token and the token string, which
// is shown once and stored nowhere. Errors match ErrBadRequest.
func IssueToken(name string, scopes []Scope, createdBy string, now time.Time, ttl time.Duration) (Token, string, error) {
	if !tokenNameRE.MatchString(name) {
		return Token{}, "", Errorf(ErrBadRequest, "token name must be 1 to 64 letters, digits, '.', '_', '@' or '-', got %q", name)
	}
	if len(scopes) == 0 {
		return Token{}, "", Errorf(ErrBadRequest, "a token needs at least one scope: read, purge, deploy or admin")
	}
	for _, s := range scopes {
		if !s.Valid() {
			return Token{}, "", Errorf(ErrBadRequest, "unknown scope %q: use read, purge, deploy or admin", s)
		}
	}
	if ttl < 0 {
		return Token{}, "", Errorf(ErrBadRequest, "ttl must not be negative")
	}
	id := make([]byte, idBytes)
	secret := make([]byte, secretBytes)
	rand.Read(id) // never fails: crypto/rand crashes the program rather than return an error
	rand.Read(secret)
	t := Token{
		ID:        hex.EncodeToString(id),
		Name:      name,
		Scopes:    normalScopes(scopes),
		Created:   now.UTC(),
		CreatedBy: createdBy,
	}
	enc := secretEncoding.EncodeToString(secret)
	t.Hash = hashSecret(enc)
	if ttl > 0 {
		t.Expires = now.Add(ttl).UTC()
	}
	return t, TokenPrefix + t.ID + "_" + enc, nil
}

// ParseToken splits a token string into its id and secret. It checks the
// form only; Verify checks the secret.
func ParseToken(s string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: does not start with %s", ErrMalformedToken, TokenPrefix)
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || !isLowerHex(id) {
		return "", "", fmt.Errorf("%w: no %d-digit hex id after %s", ErrMalformedToken, 2*idBytes, TokenPrefix)
	}
	raw, err := secretEncoding.DecodeString(secret)
	if err != nil || len(raw) != secretBytes {
		return "", "", fmt.Errorf("%w: the secret is not %d bytes of base64url", ErrMalformedToken, secretBytes)
	}
	return id, secret, nil
}

func isLowerHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// hashSecret is what a store keeps of a secret. A plain SHA-256 is right
// here, unlike for passwords: the secret is 256 random bits, so no
// dictionary or brute-force search of the hash can find it, and a slow
// hash (bcrypt, argon2) would only make every API request slower.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether secret is t's secret. It takes the same time
// whatever the secret, so answers leak nothing about the stored hash.
func (t Token) Verify(secret string) bool {
	want, err := hex.DecodeString(t.Hash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// Expired reports whether t has expired at now.
func (t Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// public is t as the API shows it: without its hash.
func (t Token) public() Token {
	t.Hash = ""
	return t
}

// describe names t in audit entries and created_by: "name (id)".
func (t Token) describe() string {
	return t.Name + " (" + t.ID + ")"
}
