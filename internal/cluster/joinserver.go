package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errBadJoinRequest marks a join request that is malformed.
var errBadJoinRequest = errors.New("bad join request")

// joinTimeout bounds the work for one join request.
const joinTimeout = 15 * time.Second

// addLearnerWait bounds the wait for etcd to accept a learner, within
// joinTimeout.
const addLearnerWait = 8 * time.Second

// nodeMux routes the node listener: joins are open to anyone holding a
// token; everything else needs a client certificate from the cluster CA.
func (c *Cluster) nodeMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/join", c.serveJoin)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "a client certificate from the cluster CA is required", http.StatusUnauthorized)
			return
		}
		h := c.nodeHandler.Load()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	return mux
}

// serveJoin admits a node that presents a valid join token.
func (c *Cluster) serveJoin(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), joinTimeout)
	defer cancel()
	var req joinRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
	dec.DisallowUnknownFields()
	var resp *joinResponse
	var id uint64
	err := dec.Decode(&req)
	if err != nil {
		err = fmt.Errorf("%w: %w", errBadJoinRequest, err)
	} else {
		resp, id, err = c.admit(ctx, &req)
	}
	if err != nil {
		status, code := joinErrorStatus(err)
		msg := err.Error()
		if status == http.StatusInternalServerError {
			msg = "internal error; see the inviting node's log"
		}
		c.log.Warn("join refused", "node", req.Node, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, status, joinErrorBody{Code: code, Error: msg})
		return
	}
	err = writeJSON(w, http.StatusOK, resp)
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		// The joiner never learns it was admitted: take the learner out.
		c.log.Warn("join answer not delivered; removing the learner", "node", req.Node, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := c.client.MemberRemove(rctx, id); err != nil {
			c.log.Warn("learner not removed", "node", req.Node, "member_id", resp.MemberID, "err", err)
		}
		return
	}
	c.log.Info("node admitted as learner", "node", req.Node, "zone", req.Zone, "site", req.Site,
		"peer_url", req.PeerURL, "member_id", resp.MemberID)
}

// admit checks a join request and adds the node as a learner.
func (c *Cluster) admit(ctx context.Context, req *joinRequest) (*joinResponse, uint64, error) {
	if c.opts.External != nil {
		return nil, 0, fmt.Errorf("join: %w", ErrExternal)
	}
	if err := checkJoinRequest(req); err != nil {
		return nil, 0, err
	}
	if err := c.readQuorum(ctx); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	if err := c.checkJoinSecret(ctx, req.TokenID, req.Secret); err != nil {
		return nil, 0, err
	}
	ml, err := c.client.MemberList(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list members: %w", err)
	}
	for _, m := range ml.Members {
		if m.Name == req.Node {
			return nil, 0, fmt.Errorf("%w: %s", ErrNameInUse, req.Node)
		}
		if !slices.Contains(m.PeerURLs, req.PeerURL) {
			continue
		}
		if m.Name != "" || !m.IsLearner {
			return nil, 0, fmt.Errorf("%w: %s belongs to member %s", ErrPeerURLInUse, req.PeerURL, m.Name)
		}
		// A learner that never started, with this node's peer URL: left
		// behind by an earlier attempt of this node that failed.
		if _, err := c.client.MemberRemove(ctx, m.ID); err != nil {
			return nil, 0, fmt.Errorf("remove learner left by an earlier join: %w", err)
		}
		c.log.Info("removed a learner left by an earlier join", "peer_url", req.PeerURL)
	}
	if joining := joiningMember(ml.Members, req.PeerURL); joining != "" {
		// A member that has not started, or a learner not yet promoted:
		// adding another now waits on it (a raft proposal the newcomer
		// must acknowledge) and may time out; the joiner retries.
		return nil, 0, fmt.Errorf("%w: %s has not finished joining", ErrJoinInProgress, joining)
	}
	cert, err := c.pki.signCSR(req.CSR, req.Node, req.Advertise, c.now())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errBadJoinRequest, err)
	}
	caKeyPEM, err := encodeKey(c.pki.caKey)
	if err != nil {
		return nil, 0, err
	}
	// etcd derives a member's ID from its peer URLs and the current second
	// and refuses an ID it removed: re-adding a peer URL within the second
	// its learner was removed (above, or by a joiner undoing a failed join)
	// fails with "member not found" until the second has passed.
	// etcd refuses a member while the last one to join is not yet
	// connected to the quorum (strict reconfiguration check): that wait is
	// bounded here, and the joiner retries after it.
	var add *clientv3.MemberAddResponse
	addCtx, cancel := context.WithTimeout(ctx, addLearnerWait)
	defer cancel()
	err = retryUnhealthy(addCtx, func() (err error) {
		add, err = c.client.MemberAddAsLearner(addCtx, []string{req.PeerURL})
		return err
	}, rpctypes.ErrMemberNotFound)
	if errors.Is(err, rpctypes.ErrTooManyLearners) {
		return nil, 0, ErrJoinInProgress
	}
	// etcd's own timeouts too: the proposal waited on a newcomer still
	// catching up, and may even have been applied (the retry removes the
	// learner it left, above).
	if errors.Is(err, rpctypes.ErrUnhealthy) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) {
		return nil, 0, fmt.Errorf("%w: add learner: %w", ErrJoinInProgress, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("add learner: %w", err)
	}
	return &joinResponse{
		CACert:         string(c.pki.caPEM),
		CAKey:          string(caKeyPEM),
		Cert:           string(pemBlock("CERTIFICATE", cert)),
		MemberID:       strconv.FormatUint(add.Member.ID, 16),
		InitialCluster: initialCluster(add.Members, add.Member.ID, req.Node),
		ClientURLs:     votingClientURLs(add.Members),
	}, add.Member.ID, nil
}

// joiningMember names a member other than the one at peerURL that is
// still joining: added but not started (no name yet), or a learner. "" when
// there is none.
func joiningMember(ms []*etcdserverpb.Member, peerURL string) string {
	for _, m := range ms {
		if slices.Contains(m.PeerURLs, peerURL) {
			continue
		}
		if m.Name == "" {
			return strings.Join(m.PeerURLs, ",")
		}
		if m.IsLearner {
			return m.Name
		}
	}
	return ""
}

// checkJoinRequest validates the fields of a join request.
func checkJoinRequest(req *joinRequest) error {
	if !namePattern.MatchString(req.Node) {
		return fmt.Errorf("%w: node name %q", errBadJoinRequest, req.Node)
	}
	if err := checkHost(req.Advertise); err != nil {
		return fmt.Errorf("%w: advertise: %w", errBadJoinRequest, err)
	}
	for _, s := range []string{req.PeerURL, req.ClientURL} {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Hostname() != req.Advertise || u.Port() == "" || u.Path != "" {
			return fmt.Errorf("%w: %q is not https://<advertise>:<port>", errBadJoinRequest, s)
		}
	}
	return nil
}

// checkJoinSecret compares the secret's hash with the token record in
// constant time. A token that expired is gone: its lease deleted it.
func (c *Cluster) checkJoinSecret(ctx context.Context, id string, secret []byte) error {
	if !tokenIDPattern.MatchString(id) {
		return fmt.Errorf("%w: malformed token id", ErrJoinToken)
	}
	resp, err := c.client.Get(ctx, c.joinTokenKey(id))
	if err != nil {
		return fmt.Errorf("read join token: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: unknown or expired token", ErrJoinToken)
	}
	var rec joinTokenRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		return fmt.Errorf("read join token: %w", err)
	}
	want, err := hex.DecodeString(rec.SecretSHA256)
	if err != nil {
		return fmt.Errorf("read join token: %w", err)
	}
	got := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("%w: wrong secret", ErrJoinToken)
	}
	return nil
}

// initialCluster is etcd's initial-cluster string for a new member, as
// etcdctl member add prints it: the new member under its name, the others
// under theirs.
func initialCluster(members []*etcdserverpb.Member, newID uint64, newName string) string {
	var s string
	for _, m := range members {
		name := m.Name
		if m.ID == newID {
			name = newName
		}
		for _, u := range m.PeerURLs {
			if s != "" {
				s += ","
			}
			s += name + "=" + u
		}
	}
	return s
}

// votingClientURLs lists the client URLs of the started voting members.
func votingClientURLs(members []*etcdserverpb.Member) []string {
	var urls []string
	for _, m := range members {
		if !m.IsLearner {
			urls = append(urls, m.ClientURLs...)
		}
	}
	return urls
}

// joinErrorStatus maps a join error to its HTTP status and code; this is
// the one place join errors meet HTTP. joinErrorKind maps back.
func joinErrorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, errBadJoinRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrJoinToken):
		return http.StatusForbidden, "token"
	case errors.Is(err, ErrNameInUse):
		return http.StatusConflict, "name_in_use"
	case errors.Is(err, ErrPeerURLInUse):
		return http.StatusConflict, "peer_url_in_use"
	case errors.Is(err, ErrJoinInProgress):
		return http.StatusConflict, "join_in_progress"
	case errors.Is(err, ErrNoQuorum):
		return http.StatusServiceUnavailable, "no_quorum"
	case errors.Is(err, ErrExternal):
		return http.StatusNotImplemented, "external"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

func joinErrorKind(code string) error {
	switch code {
	case "token":
		return ErrJoinToken
	case "name_in_use":
		return ErrNameInUse
	case "peer_url_in_use":
		return ErrPeerURLInUse
	case "join_in_progress":
		return ErrJoinInProgress
	case "no_quorum":
		return ErrNoQuorum
	case "external":
		return ErrExternal
	default:
		return nil
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
