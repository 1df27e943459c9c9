package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/server/v3/embed"
)

// joinRequest is what a joining node posts to /v1/join.
type joinRequest struct {
	TokenID   string `json:"token_id"`
	Secret    []byte `json:"secret"`
	Node      string `json:"node"`
	Zone      string `json:"zone"`
	Site      string `json:"site"`
	Advertise string `json:"advertise"`
	PeerURL   string `json:"peer_url"`
	ClientURL string `json:"client_url"`
	CSR       []byte `json:"csr"` // DER
}

// joinResponse admits the node: its certificate, the CA with its key, and
// what etcd needs to start as a member of the existing cluster.
type joinResponse struct {
	CACert         string   `json:"ca_cert"` // PEM
	CAKey          string   `json:"ca_key"`  // PEM
	Cert           string   `json:"cert"`    // PEM, signed from the CSR
	MemberID       string   `json:"member_id"`
	InitialCluster string   `json:"initial_cluster"`
	ClientURLs     []string `json:"client_urls"` // of the voting members, to promote through
}

// joinErrorBody is the answer to a refused join.
type joinErrorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// maxJoinBody bounds join requests and responses.
const maxJoinBody = 1 << 20

// join makes this node a member of the cluster the join token names: it
// asks the inviter for admission, writes the PKI it receives, starts etcd
// as a learner and promotes it. Whatever fails after admission undoes it,
// so that the join can be retried.
func (c *Cluster) join(ctx context.Context) (err error) {
	tok, err := ParseJoinToken(c.opts.Join)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("join: create node key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.opts.Node}}, key)
	if err != nil {
		return fmt.Errorf("join: create certificate request: %w", err)
	}
	resp, err := c.requestJoinRetrying(ctx, tok, &joinRequest{
		TokenID: tok.ID, Secret: tok.Secret[:],
		Node: c.opts.Node, Zone: c.opts.Zone, Site: c.opts.Site, Advertise: c.opts.Advertise,
		PeerURL: c.opts.peerURL(), ClientURL: c.opts.clientURL(), CSR: csr,
	})
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(resp.MemberID, 16, 64)
	if err != nil {
		return fmt.Errorf("join via %s: member id %q: %w", tok.Addr, resp.MemberID, err)
	}
	defer func() {
		if err != nil {
			c.abandonJoin(ctx, id, resp.ClientURLs)
		}
	}()
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	p, err := assemblePKI([]byte(resp.CACert), []byte(resp.CAKey), []byte(resp.Cert), keyPEM)
	if err != nil {
		return fmt.Errorf("join via %s: %w", tok.Addr, err)
	}
	if p.caHash() != tok.CAHash {
		return fmt.Errorf("join via %s: %w: the CA sent differs from the one pinned", tok.Addr, ErrCAMismatch)
	}
	c.pki = p // abandonJoin removes the learner with it
	if err := p.write(c.opts.pkiDir()); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	cfg, err := c.embedConfig(embed.ClusterStateFlagExisting, resp.InitialCluster, c.zlog)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if c.member, err = startMember(ctx, cfg, c.restartConfig); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if err := c.promote(ctx, id, resp.ClientURLs); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if c.client, err = c.newClient([]string{c.opts.clientURL()}, p.clientTLS()); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	c.log.Info("joined cluster", "cluster", c.opts.Name, "node", c.opts.Node, "via", tok.Addr, "member_id", resp.MemberID)
	return nil
}

// joinRetryFor bounds how long a joiner waits for another node's join to
// finish (a join takes seconds; a learner catching up on a large
// keyspace, longer).
const joinRetryFor = 3 * time.Minute

// requestJoinRetrying is requestJoin, retried while another node is
// joining: etcd admits one learner at a time.
func (c *Cluster) requestJoinRetrying(ctx context.Context, tok JoinToken, req *joinRequest) (*joinResponse, error) {
	deadline := c.now().Add(joinRetryFor)
	delay := 500 * time.Millisecond
	for {
		resp, err := c.requestJoin(ctx, tok, req)
		if !errors.Is(err, ErrJoinInProgress) || c.now().After(deadline) {
			return resp, err
		}
		c.log.Info("another node is joining; retrying", "via", tok.Addr, "in", delay, "err", err)
		if sleepCtx(ctx, delay) != nil {
			return nil, err
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// requestJoin posts req to the inviter, trusting its certificate only if it
// chains to the CA the token pins.
func (c *Cluster) requestJoin(ctx context.Context, tok JoinToken, req *joinRequest) (*joinResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	tr := &http.Transport{TLSClientConfig: pinnedTLS(tok.CAHash), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tok.Addr+"/v1/join", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("join via %s: %w", tok.Addr, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("join via %s: %w", tok.Addr, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxJoinBody))
	if err != nil {
		return nil, fmt.Errorf("join via %s: read answer: %w", tok.Addr, err)
	}
	if hresp.StatusCode != http.StatusOK {
		var eb joinErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return nil, fmt.Errorf("join via %s: %s", tok.Addr, hresp.Status)
		}
		return nil, fmt.Errorf("join via %s: %w", tok.Addr, &refusedError{msg: eb.Error, kind: joinErrorKind(eb.Code)})
	}
	var resp joinResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("join via %s: decode answer: %w", tok.Addr, err)
	}
	return &resp, nil
}

// refusedError is a join the inviter refused: its message, and the
// sentinel its code stands for.
type refusedError struct {
	msg  string
	kind error // nil for an unknown code
}

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return e.kind }

// pinnedTLS trusts a server whose certificate chains to the CA with SHA-256
// pin. The cluster CA is in no trust store, so Go's verification (which
// InsecureSkipVerify turns off) is replaced by VerifyConnection, not
// skipped.
func pinnedTLS(pin [32]byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, pin)
		},
	}
}

// verifyPinned checks that certs (leaf first) include the pinned CA and that
// the leaf is a server certificate it signed.
func verifyPinned(certs []*x509.Certificate, pin [32]byte) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: no certificate presented", ErrCAMismatch)
	}
	var ca *x509.Certificate
	for _, cert := range certs[1:] {
		if sha256.Sum256(cert.Raw) == pin {
			ca = cert
		}
	}
	if ca == nil {
		return fmt.Errorf("%w: the node's certificate chain holds no CA with the pinned hash", ErrCAMismatch)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots:     certPool(ca),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("%w: %w", ErrCAMismatch, err)
	}
	return nil
}

// promote makes learner id a voting member, through the members at
// endpoints (a learner serves no such request itself). etcd refuses until
// the learner has caught up with the leader; that is retried with back-off
// until ctx ends.
func (c *Cluster) promote(ctx context.Context, id uint64, endpoints []string) error {
	cli, err := c.newClient(endpoints, c.pki.clientTLS())
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	defer cli.Close()
	delay := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.MemberPromote(pctx, id)
		cancel()
		switch {
		case err == nil, errors.Is(err, rpctypes.ErrMemberNotLearner):
			return nil
		case errors.Is(err, rpctypes.ErrMemberNotFound):
			return fmt.Errorf("promote: %w", err)
		}
		if werr := sleepCtx(ctx, delay); werr != nil {
			return fmt.Errorf("promote: %w (last attempt: %w)", werr, err)
		}
		delay = min(2*delay, time.Second)
	}
}

// abandonJoin undoes an admission, best effort: it stops the member,
// removes the learner from the cluster and deletes the data and PKI this
// join wrote, so that a retry starts afresh. An inviter also removes a
// never-started learner with the same peer URL when the node tries again.
func (c *Cluster) abandonJoin(ctx context.Context, id uint64, endpoints []string) {
	if c.member != nil {
		c.member.close()
		c.member = nil
	}
	if c.pki != nil {
		if err := c.removeLearner(context.WithoutCancel(ctx), id, endpoints); err != nil {
			c.log.Warn("join failed and the learner could not be removed; remove it with RemoveMember",
				"member_id", strconv.FormatUint(id, 16), "err", err)
		}
	}
	c.pki = nil
	for _, dir := range []string{c.opts.etcdDir(), c.opts.pkiDir()} {
		if err := os.RemoveAll(dir); err != nil {
			c.log.Warn("join failed and its files could not be removed", "dir", dir, "err", err)
		}
	}
}

func (c *Cluster) removeLearner(ctx context.Context, id uint64, endpoints []string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := c.newClient(endpoints, c.pki.clientTLS())
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.MemberRemove(ctx, id)
	if errors.Is(err, rpctypes.ErrMemberNotFound) {
		return nil
	}
	return err
}
