package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// joinTokenPrefix starts every join token; the digit is the format version.
const joinTokenPrefix = "tdm1_"

// maxJoinTokenLen bounds the input ParseJoinToken looks at.
const maxJoinTokenLen = 1024

// DefaultJoinTokenTTL is how long a join token is valid when
// CreateJoinToken is given no TTL.
const DefaultJoinTokenTTL = time.Hour

// MaxJoinTokenTTL bounds a join token's life: a token admits any node
// that presents it, and one forgotten in a shell history or a ticket must
// not stay good for years.
const MaxJoinTokenTTL = 7 * 24 * time.Hour

// ErrMalformedJoinToken is returned for a string that is not a join token.
var ErrMalformedJoinToken = errors.New("malformed join token")

// JoinToken is what a join token carries: where to join, which token
// record to check, its secret, and the CA the inviting node's certificate
// must chain to. Its string form is "tdm1_" followed by the base64url
// encoding of a small JSON object.
type JoinToken struct {
	Addr   string   // the inviting node's NodeAddr, host:port
	ID     string   // token id, 16 hex digits; the record is <prefix>join-tokens/<ID>
	Secret [32]byte // only its SHA-256 is stored in etcd
	CAHash [32]byte // SHA-256 of the cluster CA certificate (DER)
}

// joinTokenWire is the JSON inside a token; short keys keep tokens short.
type joinTokenWire struct {
	Addr   string `json:"a"`
	ID     string `json:"i"`
	Secret []byte `json:"s"`
	CAHash []byte `json:"c"`
}

var tokenIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// String encodes the token.
func (t JoinToken) String() string {
	data, err := json.Marshal(joinTokenWire{Addr: t.Addr, ID: t.ID, Secret: t.Secret[:], CAHash: t.CAHash[:]})
	if err != nil {
		panic(err) // strings and byte slices always marshal
	}
	return joinTokenPrefix + base64.RawURLEncoding.EncodeToString(data)
}

// ParseJoinToken decodes a token made by String, strictly: every field must
// be present and well formed, and nothing else may be there.
func ParseJoinToken(s string) (JoinToken, error) {
	var t JoinToken
	if len(s) > maxJoinTokenLen {
		return t, fmt.Errorf("%w: longer than %d characters", ErrMalformedJoinToken, maxJoinTokenLen)
	}
	rest, ok := strings.CutPrefix(s, joinTokenPrefix)
	if !ok {
		return t, fmt.Errorf("%w: does not start with %q", ErrMalformedJoinToken, joinTokenPrefix)
	}
	data, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrMalformedJoinToken, err)
	}
	var w joinTokenWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return t, fmt.Errorf("%w: %w", ErrMalformedJoinToken, err)
	}
	if dec.More() {
		return t, fmt.Errorf("%w: data after the token", ErrMalformedJoinToken)
	}
	if err := checkNodeAddr(w.Addr); err != nil {
		return t, fmt.Errorf("%w: address: %w", ErrMalformedJoinToken, err)
	}
	if !tokenIDPattern.MatchString(w.ID) {
		return t, fmt.Errorf("%w: id %q is not 16 hex digits", ErrMalformedJoinToken, w.ID)
	}
	if len(w.Secret) != len(t.Secret) {
		return t, fmt.Errorf("%w: secret is %d bytes; want %d", ErrMalformedJoinToken, len(w.Secret), len(t.Secret))
	}
	if len(w.CAHash) != len(t.CAHash) {
		return t, fmt.Errorf("%w: CA hash is %d bytes; want %d", ErrMalformedJoinToken, len(w.CAHash), len(t.CAHash))
	}
	t.Addr, t.ID = w.Addr, w.ID
	copy(t.Secret[:], w.Secret)
	copy(t.CAHash[:], w.CAHash)
	return t, nil
}

// checkNodeAddr accepts host:port with an IP address or host name and a
// port in 1-65535.
func checkNodeAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fmt.Errorf("%q is not a port", port)
	}
	return nil
}

// joinTokenRecord is what etcd stores for a token, under a lease of its
// TTL so that etcd deletes it when the token expires.
type joinTokenRecord struct {
	SecretSHA256 string    `json:"secret_sha256"` // hex
	CreatedBy    string    `json:"created_by"`    // node name
	Created      time.Time `json:"created"`
}

func (c *Cluster) joinTokenKey(id string) string { return c.prefix + "join-tokens/" + id }

// createJoinToken creates a token that admits nodes into the cluster
// through this node until ttl passes (DefaultJoinTokenTTL when 0). The
// token is not single-use: every node presenting it before it expires is
// admitted, one at a time. Only the SHA-256 of its secret is stored.
func (c *Cluster) createJoinToken(ctx context.Context, ttl time.Duration) (string, error) {
	if c.opts.External != nil {
		return "", fmt.Errorf("create join token: %w: nodes on an external etcd share its endpoints instead of joining", ErrExternal)
	}
	if !c.usable() {
		return "", fmt.Errorf("create join token: %w", ErrNotOpen)
	}
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	if ttl < 0 || ttl > MaxJoinTokenTTL {
		return "", fmt.Errorf("create join token: %w: ttl %v must be > 0 and at most %v", ErrJoinTokenTTL, ttl, MaxJoinTokenTTL)
	}
	t := JoinToken{Addr: c.NodeAddr(), CAHash: c.pki.caHash()}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	if _, err := rand.Read(t.Secret[:]); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	t.ID = hex.EncodeToString(id[:])
	sum := sha256.Sum256(t.Secret[:])
	rec, err := json.Marshal(joinTokenRecord{SecretSHA256: hex.EncodeToString(sum[:]), CreatedBy: c.opts.Node, Created: c.now().UTC()})
	if err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	lease, err := c.client.Grant(ctx, int64(math.Ceil(ttl.Seconds())))
	if err != nil {
		return "", fmt.Errorf("create join token: grant lease: %w", err)
	}
	if _, err := c.client.Put(ctx, c.joinTokenKey(t.ID), string(rec), clientv3.WithLease(lease.ID)); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	return t.String(), nil
}
