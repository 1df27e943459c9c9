package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/pgha"
)

// Database is what the database endpoints need of the node: the stack's
// PostgreSQL as this node sees it, and planned switchovers.
type Database interface {
	Status(ctx context.Context) DatabaseStatus
	Switchover(ctx context.Context, to string) error
}

// DatabaseStatus is the answer to GET /v1/db: the stack's PostgreSQL.
type DatabaseStatus struct {
	// Node is the node answering; Role its member's role ("primary",
	// "standby", "starting", ...), "" when it holds no member.
	Node string `json:"node"`
	Role string `json:"role,omitempty"`
	// Leader holds the leader lease; "" while failing over.
	Leader      string `json:"leader"`
	LeaderCause string `json:"leader_cause,omitempty"`
	// SyncStandby is the standby every commit waits for; "" when none.
	SyncStandby string `json:"sync_standby,omitempty"`
	Synchronous bool   `json:"synchronous"`
	// Failsafe: the primary keeps running without etcd, through its
	// synchronous standby.
	Failsafe bool `json:"failsafe,omitempty"`
	// StoreReachable: this node read the database's state from etcd
	// recently; false means what follows may be old.
	StoreReachable bool             `json:"store_reachable"`
	Members        []DatabaseMember `json:"members"`
	// Primary and Standby are where this node's endpoints send
	// connections now; "" for none.
	Primary string `json:"primary"`
	Standby string `json:"standby"`
	// Error is this member's last failed action, if it is stuck on it.
	Error string `json:"error,omitempty"`
	// DiskFull says that this member's data directory's filesystem is
	// full, with its path and the bytes free; "" when it is not.
	DiskFull string `json:"disk_full,omitempty"`
	// OneZone is the zone every member is in, when two members or more
	// are and they share one: the loss of that zone stops the database.
	OneZone string `json:"one_zone,omitempty"`
}

// oneZone is the zone all of members are in, "" unless there are two
// or more and each names the same zone.
func oneZone(members []DatabaseMember) string {
	if len(members) < 2 {
		return ""
	}
	z := members[0].Zone
	for _, m := range members[1:] {
		if m.Zone != z {
			return ""
		}
	}
	return z
}

// DatabaseMember is one PostgreSQL server.
type DatabaseMember struct {
	Name      string  `json:"name"`
	Zone      string  `json:"zone,omitempty"`
	Addr      string  `json:"addr"`
	Role      string  `json:"role"`
	Leader    bool    `json:"leader"`
	Timeline  uint32  `json:"timeline"`
	LSN       string  `json:"lsn"`
	ReplayLSN string  `json:"replay_lsn"`
	LagBytes  int64   `json:"lag_bytes"`
	LagSecs   float64 `json:"lag_seconds"`
	Sync      string  `json:"sync,omitempty"` // sync, async, potential
	Streaming bool    `json:"streaming,omitempty"`
	// DiskFull: the member's data directory's filesystem is full; it
	// neither leads nor starts until there is room.
	DiskFull bool `json:"disk_full,omitempty"`
}

// SwitchoverRequest is the body of POST /v1/db/switchover.
type SwitchoverRequest struct {
	To string `json:"to,omitempty"` // "" for the best standby
}

// SwitchoverResult is its answer.
type SwitchoverResult struct {
	Leader string        `json:"leader"`
	Took   time.Duration `json:"took"`
}

// switchoverTimeout bounds a switchover asked through the API.
const switchoverTimeout = 60 * time.Second

func (s *Server) registerDatabase(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/db", s.dbStatus)
	mux.HandleFunc("POST /v1/db/switchover", s.dbSwitchover)
}

func (s *Server) database(w http.ResponseWriter) Database {
	if s.opts.Database == nil {
		writeErr(w, Errorf(ErrNotFound, "the stack has no database (database.postgres)"))
	}
	return s.opts.Database
}

func (s *Server) dbStatus(w http.ResponseWriter, r *http.Request) {
	if db := s.database(w); db != nil {
		writeJSON(w, http.StatusOK, db.Status(r.Context()))
	}
}

func (s *Server) dbSwitchover(w http.ResponseWriter, r *http.Request) {
	db := s.database(w)
	var req SwitchoverRequest
	if db == nil || !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), switchoverTimeout)
	defer cancel()
	begin := time.Now()
	if err := db.Switchover(ctx, req.To); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SwitchoverResult{Leader: db.Status(ctx).Leader, Took: time.Since(begin)})
}

// DBStatus returns the stack's PostgreSQL as the node sees it.
func (c *Client) DBStatus(ctx context.Context) (DatabaseStatus, error) {
	var st DatabaseStatus
	err := c.do(ctx, http.MethodGet, "/v1/db", &st)
	return st, err
}

// Switchover asks for a planned switchover to to ("" for the best
// standby) and returns once the new primary runs.
func (c *Client) Switchover(ctx context.Context, to string) (SwitchoverResult, error) {
	var res SwitchoverResult
	err := c.doJSON(ctx, http.MethodPost, "/v1/db/switchover", SwitchoverRequest{To: to}, &res)
	return res, err
}

// DatabaseOf answers the database endpoints from the node's member or
// follower: the only place pgha's types become the API's.
type DatabaseOf struct {
	DB interface {
		Status() pgha.Status
		Routes() (pgha.Routes, <-chan struct{})
		Switchover(ctx context.Context, to string) error
	}
}

var _ Database = DatabaseOf{}

// Status implements Database.
func (d DatabaseOf) Status(context.Context) DatabaseStatus {
	st := d.DB.Status()
	r, _ := d.DB.Routes()
	out := DatabaseStatus{Node: st.Name, Role: st.Role, Leader: st.Leader, LeaderCause: st.LeaderCause, SyncStandby: st.SyncStandby,
		Synchronous: st.Synchronous, Failsafe: st.Failsafe, StoreReachable: st.StoreReachable, Members: []DatabaseMember{},
		Primary: r.Primary, Standby: r.Standby, Error: st.Error, DiskFull: st.DiskFull}
	for _, m := range st.Members {
		out.Members = append(out.Members, DatabaseMember{Name: m.Name, Zone: m.Zone, Addr: m.Addr, Role: m.Role, Leader: m.Leader,
			Timeline: m.Timeline, LSN: m.LSN.String(), ReplayLSN: m.ReplayLSN.String(), LagBytes: m.LagBytes, LagSecs: m.LagSecs,
			Sync: m.Sync, Streaming: m.Streaming, DiskFull: m.DiskFull})
	}
	out.OneZone = oneZone(out.Members)
	return out
}

// Switchover implements Database: pgha's refusals are the API's conflicts.
func (d DatabaseOf) Switchover(ctx context.Context, to string) error {
	return d.switchoverError(d.DB.Switchover(ctx, to))
}

// switchoverError maps the errors of a switchover to the API's.
func (DatabaseOf) switchoverError(err error) error {
	switch {
	case errors.Is(err, pgha.ErrNoPrimary), errors.Is(err, pgha.ErrSwitchoverPending), errors.Is(err, pgha.ErrSwitchoverRefused):
		return Errorf(ErrConflict, "%w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(ErrUnavailable, "%w: the switchover did not finish within %s", err, switchoverTimeout)
	}
	return err
}
