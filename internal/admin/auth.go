package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// Errors of refused calls; the client returns them for 401 and 403
// answers.
var (
	ErrUnauthorized = errors.New("unauthorized") // 401: no token, or an unknown, revoked or expired one
	ErrForbidden    = errors.New("forbidden")    // 403: the token lacks the scope the call needs
)

// lastUsedResolution is how stale a token's stored last use may get:
// recording every use would write the token store on every request.
const lastUsedResolution = 5 * time.Minute

// callerKey is the context key of the token an API call was made with.
type callerKey struct{}

// callerOf returns the token the call in ctx was made with.
func callerOf(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(callerKey{}).(Token)
	return t, ok
}

// guard puts every API route (see routeScopes) behind a token with the
// scope the route needs, and records calls that change something, and
// every refused call, in the audit log. Other paths (the status page's
// static assets) pass unchecked: they carry no data.
func (s *Server) guard(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		need, protected := s.scopeFor(r, pattern)
		if !protected {
			mux.ServeHTTP(w, r)
			return
		}
		entry := AuditEntry{TokenName: anonymous, Remote: r.RemoteAddr, Method: r.Method, Path: r.URL.Path}
		tok, err := s.authenticate(r)
		if err == nil {
			entry.TokenID, entry.TokenName = tok.ID, tok.Name
			if !Grants(tok.Scopes, need) {
				err = Errorf(ErrForbidden, "token %s has scope %s; %s %s needs scope %s", tok.Name, scopeList(tok.Scopes), r.Method, r.URL.Path, need)
			}
		}
		if err != nil {
			s.deny(w, r, entry, need, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, tok))
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			mux.ServeHTTP(w, r)
			return
		}
		if why := s.refusing.Load(); why != nil {
			s.audited(w, r, pattern, entry, s.refused(why.err))
			return
		}
		s.audited(w, r, pattern, entry, mux)
	})
}

// scopeFor returns the scope a request needs, and false for paths
// outside the API. An API route missing from the table needs admin: the
// table fails closed.
func (s *Server) scopeFor(r *http.Request, pattern string) (Scope, bool) {
	if sc, ok := s.scopes[pattern]; ok {
		return sc, true
	}
	if !isAPIPath(r.URL.Path) && !isAPIPath(path.Clean("/"+r.URL.Path)) && !isAPIPath(patternPath(pattern)) {
		return "", false
	}
	if p := patternPath(pattern); p == "" || p == "/" {
		return ScopeRead, true // no such endpoint, or not with this method: any valid token may learn that
	}
	return ScopeAdmin, true
}

// isAPIPath reports whether p is under /v1/ or is /metrics.
func isAPIPath(p string) bool {
	return p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/metrics" || strings.HasPrefix(p, "/metrics/")
}

// patternPath is the path of a mux pattern ("GET /v1/status" → "/v1/status").
func patternPath(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		return p
	}
	return pattern
}

// authenticate finds the token of r's Authorization header. Refusals
// match ErrUnauthorized; other errors mean the token store failed.
func (s *Server) authenticate(r *http.Request) (Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Token{}, Errorf(ErrUnauthorized, "no token: the admin API needs a bearer token")
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Token{}, Errorf(ErrUnauthorized, `the Authorization header must be "Bearer <token>"`)
	}
	id, secret, err := ParseToken(strings.TrimSpace(cred))
	if err != nil {
		return Token{}, Errorf(ErrUnauthorized, "%v", err)
	}
	tok, err := s.opts.Tokens.Lookup(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Token{}, Errorf(ErrUnauthorized, "unknown or revoked token %s", id)
	case err != nil:
		return Token{}, fmt.Errorf("look up token %s: %w", id, err)
	case !tok.Verify(secret):
		return Token{}, Errorf(ErrUnauthorized, "unknown or revoked token %s", id)
	}
	now := time.Now()
	if tok.Expired(now) {
		return Token{}, Errorf(ErrUnauthorized, "token %s expired at %s", tok.describe(), tok.Expires.Format(time.RFC3339))
	}
	if now.Sub(tok.LastUsed) >= lastUsedResolution {
		if err := s.opts.Tokens.Touch(r.Context(), tok.ID, now.Truncate(time.Minute)); err != nil {
			s.log.Warn("token last use not recorded", "token", tok.ID, "err", err)
		}
	}
	return tok, nil
}

// deny answers a refused call and records it.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, entry AuditEntry, need Scope, err error) {
	status := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrUnauthorized):
		status = http.StatusUnauthorized
		challenge := `Bearer realm="tandem"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem", error="insufficient_scope", scope="`+string(need)+`"`)
	default:
		s.log.Error("admin call refused: token store unavailable", "method", entry.Method, "path", entry.Path, "err", err)
		writeError(w, status, "token store unavailable: "+err.Error())
		return
	}
	entry.Time, entry.Status, entry.Outcome, entry.Reason = time.Now().UTC(), status, OutcomeDenied, err.Error()
	if aerr := s.opts.Audit.Append(entry); aerr != nil {
		s.log.Error("denied admin call not audited", "method", entry.Method, "path", entry.Path, "err", aerr)
	}
	writeError(w, status, err.Error())
}

// audited runs a call that changes something between its started entry
// and its outcome entry. If the started entry cannot be written the call
// does not run.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, pattern string, entry AuditEntry, next http.Handler) {
	id := make([]byte, 8)
	rand.Read(id) // never fails
	entry.Request = hex.EncodeToString(id)
	entry.Summary = summarize(r, pattern)
	entry.Time, entry.Outcome = time.Now().UTC(), OutcomeStarted
	if err := s.opts.Audit.Append(entry); err != nil {
		s.log.Error("admin call refused: audit log unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r)
	entry.Time, entry.Status, entry.Outcome = time.Now().UTC(), rec.code(), OutcomeOK
	if entry.Status >= 400 {
		entry.Outcome = OutcomeFailed
	}
	if err := s.opts.Audit.Append(entry); err != nil {
		s.log.Error("admin call outcome not audited", "method", r.Method, "path", r.URL.Path, "request", entry.Request, "err", err)
	}
}

// statusRecorder notes the status a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (to flush).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
