package sites

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Errors of Failback, for errors.Is.
var (
	// ErrNoEmergency: there is no emergency to end.
	ErrNoEmergency = errors.New("no emergency is declared")
	// ErrNotReady: the leader site cannot take over yet (down, or its
	// database not caught up); the message says which.
	ErrNotReady = errors.New("the leader site cannot take over yet")
	// ErrFailbackRunning: a failback runs already on this node.
	ErrFailbackRunning = errors.New("a failback is running")
)

// FailbackResult is how a failback went.
type FailbackResult struct {
	Site    string    `json:"site"`             // the site that leads again
	Target  string    `json:"target,omitempty"` // the database member made primary; "" without a database or when it was already
	Started time.Time `json:"started"`
	// Switchover is how long the database switchover took, request to
	// the new primary running: writes paused for at most that long.
	Switchover time.Duration `json:"switchover_ns,omitempty"`
	Ended      time.Time     `json:"ended"`
	Error      string        `json:"error,omitempty"`
}

// Failback hands the lead back to the site the emergency was declared
// against: it switches the database primary over to that site's most
// caught-up member (a planned switchover: nothing is lost) and ends the
// emergency. It needs the quorum, the emergency, the leader site up and
// (with a database) one of its members streaming within MaxFailbackLag.
func (c *Controller) Failback(ctx context.Context) (FailbackResult, error) {
	if !c.failbackMu.TryLock() {
		return FailbackResult{}, fmt.Errorf("failback: %w", ErrFailbackRunning)
	}
	defer c.failbackMu.Unlock()
	c.setBusy(true)
	defer c.setBusy(false)
	res, err := c.failback(ctx)
	res.Ended = c.opts.Clock()
	if err != nil {
		res.Error = err.Error()
	}
	c.mu.Lock()
	c.lastFailback = &res
	c.mu.Unlock()
	msg := fmt.Sprintf("failback to site %s", res.Site)
	if res.Target != "" {
		msg += fmt.Sprintf(": database primary %s after a switchover of %s", res.Target, res.Switchover.Round(time.Millisecond))
	}
	if err != nil {
		msg = "failback failed: " + err.Error()
	}
	c.opts.OnEvent(Event{Time: res.Ended, Kind: EventFailback, Message: msg, Err: err})
	c.wakeUp()
	return res, err
}

func (c *Controller) failback(ctx context.Context) (FailbackResult, error) {
	res := FailbackResult{Started: c.opts.Clock()}
	rctx, cancel := context.WithTimeout(ctx, cluster.CallTimeout)
	st, err := c.opts.Cluster.SitesState(rctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("failback: %w", err)
	}
	if st.Emergency.Revision == 0 {
		return res, fmt.Errorf("failback: %w", ErrNoEmergency)
	}
	e := decodeEmergency(st.Emergency.Value, c.opts.LeaderSite, c.log)
	res.Site = e.Site
	if !hasSite(st.Beats, e.Site) {
		return res, fmt.Errorf("failback: %w: no node of site %s reaches the control plane", ErrNotReady, e.Site)
	}
	if c.opts.Database != nil {
		db := dbState(c.opts.Database.Status())
		if !db.LeaderRunning || db.LeaderSite != e.Site {
			tgt, ok := FailbackTarget(db, e.Site, c.m.cfg.MaxFailbackLag)
			if !ok {
				return res, fmt.Errorf("failback: %w: %s", ErrNotReady, lagReport(db, e.Site, c.m.cfg.MaxFailbackLag))
			}
			res.Target = tgt.Name
			start := c.opts.Clock()
			if err := c.opts.Database.Switchover(ctx, tgt.Name); err != nil {
				return res, fmt.Errorf("failback: %w", err)
			}
			res.Switchover = c.opts.Clock().Sub(start)
		}
	}
	if err := c.opts.Cluster.DeleteEmergency(ctx, st.Emergency.Revision); err != nil && !errors.Is(err, cluster.ErrConflict) {
		return res, fmt.Errorf("failback: end the emergency: %w", err)
	}
	c.log.Info("failback done", "site", res.Site, "target", res.Target, "switchover", res.Switchover.String())
	return res, nil
}

// lagReport says why no member of site can take the primary over.
func lagReport(db DBState, site string, maxLag int64) string {
	for _, m := range db.Members {
		if m.Site == site && m.Streaming {
			return fmt.Sprintf("database member %s of site %s is %d bytes behind the primary; a failback starts within %d", m.Name, site, m.LagBytes, maxLag)
		}
	}
	return fmt.Sprintf("no database member of site %s streams from the primary yet (rejoining, rewinding or cloning)", site)
}

// startFailback runs a failback in the background, for failback auto.
func (c *Controller) startFailback(ctx context.Context, why string) {
	c.setBusy(true)
	c.failbacks.Go(func() {
		defer c.setBusy(false)
		c.log.Info("automatic failback", "reason", why)
		if _, err := c.Failback(ctx); err != nil && !errors.Is(err, ErrFailbackRunning) {
			c.log.Warn("automatic failback failed; trying again later", "err", err)
		}
	})
}

func (c *Controller) setBusy(b bool) {
	c.mu.Lock()
	c.busy = b
	c.mu.Unlock()
}
