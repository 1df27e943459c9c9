package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testServer is an admin API on loopback with a file token store and
// audit log in a temporary directory.
type testServer struct {
	t      *testing.T
	srv    *Server
	addr   string // host:port
	tokens TokenStore
	audit  *AuditLog
	root   string // a token with scope admin
}

func startAuthServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	if opts.Tokens == nil {
		opts.Tokens = NewFileTokenStore(filepath.Join(dir, "tokens.json"))
	}
	if opts.Audit == nil {
		opts.Audit = NewAuditLog(filepath.Join(dir, "audit.log"))
	}
	opts.Listen = "127.0.0.1:0"
	if opts.Status == nil {
		opts.Status = func(context.Context) Status { return Status{Node: "n1"} }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		opts.Audit.Close()
	})
	ts := &testServer{t: t, srv: s, addr: s.Addr().(*net.TCPAddr).String(), tokens: opts.Tokens, audit: opts.Audit}
	ts.root = ts.issue("root", 0, ScopeAdmin)
	return ts
}

// issue stores a new token valid for ttl (0: forever; < 0: expired) and
// returns it.
func (ts *testServer) issue(name string, ttl time.Duration, scopes ...Scope) string {
	ts.t.Helper()
	tok, value, err := IssueToken(name, scopes, "test", time.Now(), max(ttl, 0))
	if err != nil {
		ts.t.Fatal(err)
	}
	if ttl < 0 {
		tok.Expires = time.Now().Add(ttl)
	}
	if err := ts.tokens.Create(context.Background(), tok); err != nil {
		ts.t.Fatal(err)
	}
	return value
}

func (ts *testServer) client(token string) *Client {
	return NewClientWith(ts.addr, ClientOptions{Token: token})
}

// do sends a request with an Authorization header (none if "").
func (ts *testServer) do(method, path, auth, body string) (*http.Response, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, "http://"+ts.addr+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// countingPurge is a Purge that counts its calls.
func countingPurge(n *atomic.Int32) func(context.Context, PurgeRequest) (int, error) {
	return func(context.Context, PurgeRequest) (int, error) {
		n.Add(1)
		return 1, nil
	}
}

func TestScopeEnforcement(t *testing.T) {
	var purges atomic.Int32
	ts := startAuthServer(t, Options{Purge: countingPurge(&purges), Deploys: fakeDeployer{}})
	read := "Bearer " + ts.issue("reader", 0, ScopeRead)
	purge := "Bearer " + ts.issue("purger", 0, ScopePurge)
	deploy := "Bearer " + ts.issue("ci", 0, ScopeDeploy)
	admin := "Bearer " + ts.root
	expired := "Bearer " + ts.issue("old", -time.Hour, ScopeAdmin)
	id, _, _ := ParseToken(ts.root)
	wrongSecret := "Bearer " + TokenPrefix + id + "_" + strings.Repeat("A", 43)
	tests := []struct {
		method, path, auth string
		want               int
		body               string // a substring of the answer
	}{
		{"GET", "/v1/status", "", 401, "no token"},
		{"GET", "/v1/status", "Bearer nonsense", 401, "malformed token"},
		{"GET", "/v1/status", "Basic cm9vdDpyb290", 401, "Bearer"},
		{"GET", "/v1/status", wrongSecret, 401, "unknown or revoked"},
		{"GET", "/v1/status", expired, 401, "expired"},
		{"GET", "/v1/status", read, 200, "n1"},
		{"HEAD", "/v1/status", read, 200, ""},
		{"POST", "/v1/purge", read, 403, "needs scope purge"},
		{"POST", "/v1/purge", purge, 200, "purged"},
		{"GET", "/v1/status", purge, 200, "n1"},
		{"POST", "/v1/apps/web/deploy", purge, 403, "needs scope deploy"},
		{"POST", "/v1/apps/web/deploy", read, 403, "needs scope deploy"},
		{"POST", "/v1/apps/web/deploy", deploy, 200, "succeeded"},
		{"POST", "/v1/purge", deploy, 403, "needs scope purge"},
		{"GET", "/v1/tokens", deploy, 403, "needs scope admin"},
		{"GET", "/v1/audit", read, 403, "needs scope admin"},
		{"DELETE", "/v1/cluster/members/n2", deploy, 403, "needs scope admin"},
		{"GET", "/v1/tokens", admin, 200, "reader"},
		{"POST", "/v1/purge", admin, 200, "purged"},
		{"GET", "/v1/no-such-thing", "", 401, "no token"},
		{"GET", "/v1/no-such-thing", read, 404, "no such endpoint"},
		{"GET", "/metrics", "", 401, "no token"},
		{"GET", "/assets/app.css", "", 404, "no such endpoint"}, // static paths need no token
	}
	for _, tt := range tests {
		body := ""
		if tt.method == "POST" {
			body = `{"tags":["a"]}`
			if strings.Contains(tt.path, "deploy") {
				body = `{"who":"t"}`
			}
		}
		resp, got := ts.do(tt.method, tt.path, tt.auth, body)
		if resp.StatusCode != tt.want || !strings.Contains(got, tt.body) {
			t.Errorf("%s %s with %.20q = %d %q; want %d with %q", tt.method, tt.path, tt.auth, resp.StatusCode, got, tt.want, tt.body)
		}
		if tt.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s with %.20q: WWW-Authenticate = %q; want Bearer", tt.method, tt.path, tt.auth, resp.Header.Get("WWW-Authenticate"))
		}
		if tt.want >= 400 && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: Content-Type = %q; want a JSON error", tt.method, tt.path, resp.Header.Get("Content-Type"))
		}
	}
	if n := purges.Load(); n != 2 {
		t.Errorf("purges run = %d; want 2 (the refused ones must not run)", n)
	}
}

// TestRouteScopesAreRoutes keeps the scope table in step with the mux: a
// row for a route that does not exist is a typo that leaves the real
// route needing admin.
func TestRouteScopesAreRoutes(t *testing.T) {
	s, err := New(Options{Listen: "127.0.0.1:0", Status: func(context.Context) Status { return Status{} },
		Tokens: NewFileTokenStore(filepath.Join(t.TempDir(), "t.json")), Audit: NewAuditLog(filepath.Join(t.TempDir(), "a.log"))})
	if err != nil {
		t.Fatal(err)
	}
	for pattern := range routeScopes() {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{app}", "web", "{name}", "x", "{id}", "0123456789abcdef").Replace(path)
		r, _ := http.NewRequest(method, path, nil)
		if _, got := s.mux.Handler(r); got != pattern {
			t.Errorf("mux.Handler(%s %s) = pattern %q; want %q", method, path, got, pattern)
		}
	}
}

func TestGrants(t *testing.T) {
	tests := []struct {
		have []Scope
		need Scope
		want bool
	}{
		{[]Scope{ScopeRead}, ScopeRead, true},
		{[]Scope{ScopeRead}, ScopePurge, false},
		{[]Scope{ScopeRead}, ScopeDeploy, false},
		{[]Scope{ScopePurge}, ScopeRead, true},
		{[]Scope{ScopePurge}, ScopeDeploy, false},
		{[]Scope{ScopeDeploy}, ScopeRead, true},
		{[]Scope{ScopeDeploy}, ScopePurge, false},
		{[]Scope{ScopeDeploy}, ScopeAdmin, false},
		{[]Scope{ScopeRead, ScopePurge}, ScopePurge, true},
		{[]Scope{ScopeAdmin}, ScopeDeploy, true},
		{[]Scope{ScopeAdmin}, ScopeAdmin, true},
		{nil, ScopeRead, false},
		{[]Scope{"root"}, ScopeRead, false},
	}
	for _, tt := range tests {
		if got := Grants(tt.have, tt.need); got != tt.want {
			t.Errorf("Grants(%q, %q) = %v; want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   string
		want string // scopeList of the result, or "error"
	}{
		{"read", "read"},
		{"read,deploy", "deploy,read"},
		{" deploy , read,deploy ", "deploy,read"},
		{"admin", "admin"},
		{"", "error"},
		{",", "error"},
		{"read,write", "error"},
		{"Read", "error"},
	}
	for _, tt := range tests {
		ss, err := ParseScopes(tt.in)
		got := scopeList(ss)
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestClientErrors: the client maps 401 and 403 to ErrUnauthorized and
// ErrForbidden on both of its paths (status/purge and the rest).
func TestClientErrors(t *testing.T) {
	ts := startAuthServer(t, Options{Deploys: fakeDeployer{}})
	ctx := t.Context()
	if _, err := ts.client("").Status(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Status without a token = %v; want ErrUnauthorized", err)
	}
	if _, err := ts.client("").History(ctx, "web"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("History without a token = %v; want ErrUnauthorized", err)
	}
	read := ts.client(ts.issue("reader", 0, ScopeRead))
	if _, err := read.Purge(ctx, PurgeRequest{URL: "http://x/"}); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "purge") {
		t.Errorf("Purge with a read token = %v; want ErrForbidden naming scope purge", err)
	}
	if _, err := read.Tokens(ctx); !errors.Is(err, ErrForbidden) {
		t.Errorf("Tokens with a read token = %v; want ErrForbidden", err)
	}
}
