// Package admin owns a node's admin interface: the JSON API on its own
// listener (loopback by default), the types it speaks, and the typed client
// the CLI uses as its only way to talk to a running node.
package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Options configure a Server.
type Options struct {
	// Listen is the admin address, e.g. "127.0.0.1:7070".
	Listen string
	// Status reports the node's current state.
	Status func(context.Context) Status
	// Purge applies a cache purge; nil when the node has no cache.
	Purge func(context.Context, PurgeRequest) (int, error)
	// Deploys runs deploys, rollbacks and maintenance; nil answers 501.
	Deploys Deployer
	// Jobs lists and runs scheduled jobs; nil when the stack has none.
	Jobs Jobs
	// Cluster manages the cluster's membership; nil answers 404.
	Cluster Cluster
	// Metrics serves the Prometheus exposition at GET /metrics; nil
	// answers 404.
	Metrics http.Handler
	// Series gives the status page's charts (GET /v1/series); nil
	// answers 501.
	Series SeriesSource
	// Checks lists the uptime checks; nil when the stack has none.
	Checks Checks
	// Database is the stack's PostgreSQL; nil when the stack has none
	// (its endpoints answer 404).
	Database Database
	// Sites are the stack's sites; nil when the stack has none (their
	// endpoints answer 404).
	Sites Sites
	// Backups are the stack's backups; nil when the stack has none (their
	// endpoints answer 404).
	Backups Backups
	// Upgrade upgrades the node's binary in place; nil answers 501.
	Upgrade Upgrader
	// Tokens holds the tokens API calls are made with; required: every
	// /v1/ and /metrics request needs one (see routeScopes).
	Tokens TokenStore
	// Audit records calls that change something and refused calls;
	// required.
	Audit *AuditLog
	// TLSCert and TLSKey are PEM files; when set, the listener serves
	// HTTPS only.
	TLSCert, TLSKey string
	// Inherited, if not nil, is the listening socket the process that ran
	// this node before an upgrade handed over: Listen uses it in place of
	// binding Listen, and calls that queued on it meanwhile are served.
	Inherited net.Listener
	// Logger receives the server's own events; nil discards them.
	Logger *slog.Logger
}

// Server is the admin API listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	scopes map[string]Scope // see routeScopes
	mux    *http.ServeMux
	raw    net.Listener // the listening socket
	ln     net.Listener // raw, behind TLS if any
	srv    *http.Server
	// refusing, if set, is why calls that change something are refused
	// (see Refuse).
	refusing atomic.Pointer[refusal]
}

// routeScopes is the scope each API route needs, by its mux pattern.
// Every route under /v1/ and /metrics needs a row: one missing here needs
// admin (the table fails closed).
func routeScopes() map[string]Scope {
	return map[string]Scope{
		"GET /v1/status":                    ScopeRead,
		"GET /v1/apps/{app}/history":        ScopeRead,
		"GET /v1/apps/{app}/deploy":         ScopeRead, // follow a deploy
		"GET /v1/jobs":                      ScopeRead,
		"GET /v1/series":                    ScopeRead,
		"GET /v1/checks":                    ScopeRead,
		"GET /metrics":                      ScopeRead,
		"GET /v1/cluster/members":           ScopeRead,
		"GET /v1/db":                        ScopeRead,
		"POST /v1/db/switchover":            ScopeDeploy,
		"GET /v1/sites":                     ScopeRead,
		"POST /v1/sites/failback":           ScopeDeploy,
		"GET /v1/db/backups":                ScopeRead,
		"POST /v1/db/backups":               ScopeDeploy,
		"POST /v1/db/restore":               ScopeAdmin, // writes a copy of the data to a directory of the node's
		"POST /v1/purge":                    ScopePurge,
		"POST /v1/apps/{app}/deploy":        ScopeDeploy,
		"POST /v1/apps/{app}/rollback":      ScopeDeploy,
		"POST /v1/plan":                     ScopeDeploy,
		"POST /v1/apps/{app}/pause":         ScopeDeploy,
		"POST /v1/apps/{app}/maintenance":   ScopeDeploy,
		"POST /v1/apps/{app}/resume":        ScopeDeploy,
		"POST /v1/jobs/{name}/run":          ScopeDeploy,
		"POST /v1/tokens":                   ScopeAdmin,
		"GET /v1/tokens":                    ScopeAdmin,
		"DELETE /v1/tokens/{id}":            ScopeAdmin,
		"GET /v1/audit":                     ScopeAdmin,
		"POST /v1/cluster/tokens":           ScopeAdmin,
		"DELETE /v1/cluster/members/{name}": ScopeAdmin,
		"POST /v1/upgrade":                  ScopeAdmin,
	}
}

// New checks opts. It binds nothing.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		return nil, errors.New("new admin: no listen address")
	}
	if opts.Status == nil {
		return nil, errors.New("new admin: no status source")
	}
	if opts.Tokens == nil || opts.Audit == nil {
		return nil, errors.New("new admin: no token store or audit log")
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return nil, errors.New("new admin: TLS needs both a certificate and a key")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, scopes: routeScopes()}
	mux := http.NewServeMux()
	s.mux = mux
	mux.HandleFunc("GET /v1/status", s.status)
	s.registerDeploy(mux)
	s.registerJobs(mux)
	s.registerCluster(mux)
	s.registerSeries(mux)
	s.registerMetrics(mux)
	s.registerChecks(mux)
	s.registerDatabase(mux)
	s.registerSites(mux)
	s.registerBackups(mux)
	s.registerTokens(mux)
	mux.HandleFunc("POST /v1/purge", s.purge)
	mux.HandleFunc("POST /v1/upgrade", s.upgrade)
	if err := s.registerPage(mux); err != nil {
		return nil, fmt.Errorf("new admin: %w", err)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.srv = &http.Server{
		Handler:           s.guard(mux),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Listen binds the admin address and, with TLS, loads the certificate.
func (s *Server) Listen() error {
	var cfg *tls.Config
	if s.opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.TLSCert, s.opts.TLSKey)
		if err != nil {
			return fmt.Errorf("listen admin: load TLS certificate: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln := s.opts.Inherited
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Listen); err != nil {
			return fmt.Errorf("listen admin: %w", err)
		}
	}
	s.raw = ln
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	s.ln = ln
	return nil
}

// Close releases the listener of a server that will not Run.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
}

// ListenerFile returns a duplicate of the listening socket (close-on-exec
// set), for a handover to the next binary of an upgrade: with it open, the
// socket outlives Run, and calls wait in its backlog.
func (s *Server) ListenerFile() (*os.File, error) {
	tl, ok := s.raw.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("admin listener: %w", errors.New("not bound to a TCP address"))
	}
	f, err := tl.File()
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return f, nil
}

// Addr is the bound address; nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves until ctx ends, then shuts down within a few seconds.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("run admin: Listen was not called")
	}
	s.log.Info("admin listening", "addr", s.ln.Addr().String(), "tls", s.opts.TLSCert != "")
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve admin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admin: %w", err)
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.opts.Status(r.Context()))
}

// apiError is the body of every non-2xx answer.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the client sees a truncated body if the connection breaks; nothing else to do
}
