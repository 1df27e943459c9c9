package admin

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Upgrader is what the upgrade endpoint needs of the node.
type Upgrader interface {
	// Upgrade checks the new binary and, if it will do, starts the
	// upgrade and returns at once: the node hands over to the new binary,
	// whose status tells how it went (Status.Upgrade, with the same ID).
	Upgrade(ctx context.Context, req UpgradeRequest) (UpgradeStatus, error)
}

// UpgradeRequest is the body of POST /v1/upgrade.
type UpgradeRequest struct {
	Who string `json:"who"` // who asks, for the log
	// Binary is the new tandem binary's absolute path on the node; ""
	// for the path the node was started from (where a package manager
	// puts the new version).
	Binary string `json:"binary,omitempty"`
	// Drain bounds the wait for the requests in flight before the handover;
	// 0 means the node's default (10s).
	Drain time.Duration `json:"drain,omitempty"`
}

// Results of an upgrade, in UpgradeStatus.Result.
const (
	UpgradeRunning   = "running"
	UpgradeSucceeded = "succeeded"
	UpgradeFailed    = "failed"
)

// UpgradeStatus is an upgrade of the node's binary: the answer to POST
// /v1/upgrade (Result running), and Status.Upgrade afterwards.
type UpgradeStatus struct {
	ID       string    `json:"id"`
	Who      string    `json:"who,omitempty"`
	From     string    `json:"from"` // the version that handed over
	To       string    `json:"to"`   // the version of the new binary
	Binary   string    `json:"binary"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Result   string    `json:"result"`          // running, succeeded, failed
	Error    string    `json:"error,omitempty"` // why it failed; the node then runs From
}

// ErrRefused wraps the reason the API refuses changes for a while (see
// Server.Refuse); it answers 409.
var ErrRefused = errors.New("changes refused for now")

// refusal is why the API refuses changes.
type refusal struct{ err error }

// Refuse makes the API answer calls that would change something with 409
// and why (err wraps ErrRefused in the answer), while the node does what
// they must not disturb: an upgrade hands its state to a new binary.
// Reads go on. nil accepts changes again.
func (s *Server) Refuse(err error) {
	if err == nil {
		s.refusing.Store(nil)
		return
	}
	s.refusing.Store(&refusal{err: err})
}

// refused answers a change while the API refuses them.
func (s *Server) refused(why error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusConflict, ErrRefused.Error()+": "+why.Error())
	})
}

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	if s.opts.Upgrade == nil {
		writeError(w, http.StatusNotImplemented, "this node cannot be upgraded in place")
		return
	}
	var req UpgradeRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Who == "" {
		if tok, ok := callerOf(r.Context()); ok {
			req.Who = "token " + tok.Name
		}
	}
	st, err := s.opts.Upgrade.Upgrade(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

// Upgrade asks the node to upgrade to a new binary; see Upgrader. It
// returns once the node has accepted (the upgrade then goes on without
// the client): follow Status.Upgrade to see it end.
func (c *Client) Upgrade(ctx context.Context, req UpgradeRequest) (UpgradeStatus, error) {
	var st UpgradeStatus
	err := c.doJSON(ctx, http.MethodPost, "/v1/upgrade", req, &st)
	return st, err
}
