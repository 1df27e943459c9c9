package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name   string        `json:"name"`
	Scopes []Scope       `json:"scopes"`
	TTL    time.Duration `json:"ttl,omitempty"` // 0: the token does not expire
}

// IssuedToken is the answer to POST /v1/tokens: the new token's record
// and, once only, the token itself.
type IssuedToken struct {
	Token
	Value string `json:"token"` // tdm_<id>_<secret>; not stored anywhere
}

// TokenList is the answer to GET /v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// AuditList is the answer to GET /v1/audit.
type AuditList struct {
	Entries []AuditEntry `json:"entries"` // oldest first
}

// Audit limits: GET /v1/audit without ?limit= returns defaultAuditLimit
// entries, and never more than maxAuditLimit.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 10000
)

func (s *Server) registerTokens(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/tokens", s.createToken)
	mux.HandleFunc("GET /v1/tokens", s.listTokens)
	mux.HandleFunc("DELETE /v1/tokens/{id}", s.revokeToken)
	mux.HandleFunc("GET /v1/audit", s.audit)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !readJSON(w, r, &req) {
		return
	}
	by := "unknown"
	if caller, ok := callerOf(r.Context()); ok {
		by = caller.describe()
	}
	tok, value, err := IssueToken(req.Name, req.Scopes, by, time.Now(), req.TTL)
	if err == nil {
		err = s.opts.Tokens.Create(r.Context(), tok)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("admin token created", "token", tok.ID, "name", tok.Name, "scopes", scopeList(tok.Scopes), "by", by)
	writeJSON(w, http.StatusOK, IssuedToken{Token: tok.public(), Value: value})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.opts.Tokens.List(r.Context())
	for i := range ts {
		ts[i] = ts[i].public()
	}
	writeResult(w, TokenList{Tokens: ts}, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.opts.Tokens.Revoke(r.Context(), id); err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("admin token revoked", "token", id)
	writeJSON(w, http.StatusOK, struct {
		Revoked string `json:"revoked"`
	}{id})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	limit := defaultAuditLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			writeErr(w, Errorf(ErrBadRequest, "limit must be a number from 1 to %d, got %q", maxAuditLimit, v))
			return
		}
		limit = n
	}
	es, err := s.opts.Audit.Tail(limit)
	writeResult(w, AuditList{Entries: es}, err)
}

// CreateToken creates a token; the answer holds the token string, which
// the node keeps no copy of.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (IssuedToken, error) {
	var t IssuedToken
	err := c.call(ctx, http.MethodPost, "/v1/tokens", req, &t)
	return t, err
}

// Tokens lists the node's tokens.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var l TokenList
	err := c.call(ctx, http.MethodGet, "/v1/tokens", nil, &l)
	return l.Tokens, err
}

// RevokeToken revokes the token id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &struct{}{})
}

// Audit returns the last limit entries of the audit log, oldest first.
func (c *Client) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	var l AuditList
	err := c.call(ctx, http.MethodGet, "/v1/audit?limit="+strconv.Itoa(limit), nil, &l)
	return l.Entries, err
}
