package pgha

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Errors of Switchover, for errors.Is.
var (
	ErrNoPrimary         = errors.New("no primary")
	ErrSwitchoverPending = errors.New("a switchover is already pending")
	ErrSwitchoverRefused = errors.New("switchover refused")
)

// Status returns this member's view of the cluster.
func (m *Member) Status() Status {
	now := m.opts.Clock()
	v := m.currentView(now)
	m.mu.Lock()
	local, failsafe, lastErr, diskMsg := m.local, m.failsafe, m.lastErr, m.diskMsg
	m.mu.Unlock()
	st := buildStatus(m.opts.Name, place{m.opts.Zone, m.opts.Site}, !m.opts.Asynchronous, local, v, v.Fresh, failsafe)
	st.Error, st.DiskFull = lastErr, diskMsg
	return st
}

// Routes returns where the DB endpoint should send connections now, and
// a channel closed when that changes. Routes follow the store: Primary is
// set only while the holder of the leader lease publishes that it runs
// as primary. Without the store the last routes stay (a primary kept by
// the failsafe goes on serving).
func (m *Member) Routes() (Routes, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.routes, m.routesCh
}

// Credentials returns the cluster's generated roles, creating them in the
// store if the cluster has none yet. The node gives the app role to apps
// (DATABASE_URL).
func (m *Member) Credentials(ctx context.Context) (Credentials, error) {
	return loadCredentials(ctx, m.opts.Store, m.opts.AppUser)
}

// Switchover asks the primary to hand over to member to ("": the best
// standby; in synchronous mode the synchronous one) and waits until the
// new primary runs, the primary refuses (ErrSwitchoverRefused, with its
// reason), or ctx ends (the request is withdrawn). Any member may ask.
func (m *Member) Switchover(ctx context.Context, to string) error {
	return switchover(ctx, m.opts.Store, m.opts.Clock, m.log, to)
}

// switchover asks for a switchover through store and waits for it.
func switchover(ctx context.Context, store Store, clock func() time.Time, log *slog.Logger, to string) error {
	st, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	v, _ := decodeView(st)
	if v.Leader == "" {
		return fmt.Errorf("switchover: %w", ErrNoPrimary)
	}
	if to == v.Leader {
		return fmt.Errorf("switchover: %w: %s is the primary already", ErrSwitchoverRefused, to)
	}
	id := make([]byte, 8)
	rand.Read(id)
	req := SwitchoverRequest{ID: hex.EncodeToString(id), From: v.Leader, To: to, At: clock()}
	val, _ := json.Marshal(req)
	if err := store.PutSwitchover(ctx, val, 0); err != nil {
		if errors.Is(err, cluster.ErrConflict) {
			return fmt.Errorf("switchover: %w", ErrSwitchoverPending)
		}
		return fmt.Errorf("switchover: %w", err)
	}
	log.Info("switchover requested", "from", v.Leader, "to", to)
	err = awaitSwitchover(ctx, store, req)
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if cur, lerr := store.Load(dctx); lerr == nil && cur.Switchover.Revision != 0 {
			var r SwitchoverRequest
			if json.Unmarshal(cur.Switchover.Value, &r) == nil && r.ID == req.ID {
				store.DeleteSwitchover(dctx, cur.Switchover.Revision)
			}
		}
	}
	return err
}

// awaitSwitchover polls the store until the switchover ended.
func awaitSwitchover(ctx context.Context, store Store, req SwitchoverRequest) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("switchover from %s: %w", req.From, ctx.Err())
		case <-t.C:
		}
		st, err := store.Load(ctx)
		if err != nil {
			continue
		}
		v, _ := decodeView(st)
		if r := v.Switchover; r != nil && r.ID == req.ID && r.Error != "" {
			return fmt.Errorf("switchover from %s: %w: %s", req.From, ErrSwitchoverRefused, r.Error)
		}
		if v.Leader == "" || v.Leader == req.From || (req.To != "" && v.Leader != req.To) {
			continue
		}
		if rec, ok := v.Members[v.Leader]; ok && rec.State == PGPrimary.String() {
			return nil
		}
	}
}
