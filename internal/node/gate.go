package node

import (
	"context"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
)

// This file implements the maintenance endpoints: pause, maintenance and
// resume act on the app's edge.Gate; maintenance is kept across restarts.

// Defaults of a pause.
const (
	defaultPauseHold  = 30 * time.Second
	defaultPauseDrain = 30 * time.Second
	drainPoll         = 20 * time.Millisecond
)

// Pause implements admin.Deployer: new requests are held, and it returns
// once the requests in flight have finished or req.Drain has passed.
func (n *Node) Pause(ctx context.Context, name string, req admin.PauseRequest) (admin.GateStatus, error) {
	a, err := n.app(name)
	if err != nil {
		return admin.GateStatus{}, err
	}
	if req.Hold < 0 || req.Drain < 0 {
		return admin.GateStatus{}, admin.Errorf(admin.ErrBadRequest, "pause %s: hold and drain must not be negative", name)
	}
	hold, drain := cmpOr(req.Hold, defaultPauseHold), cmpOr(req.Drain, defaultPauseDrain)
	if a.gate.State().Mode == edge.GateMaintenance {
		return admin.GateStatus{}, admin.Errorf(admin.ErrConflict, "pause %s: the app is in maintenance; resume it first", name)
	}
	a.gate.Pause(hold)
	n.log.Info("app paused", "app", name, "hold", hold)
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for a.inFlight() > 0 {
		select {
		case <-ctx.Done():
			return a.gateStatus(), ctx.Err()
		case <-deadline.C:
			return a.gateStatus(), nil // the status shows what is still in flight
		case <-tick.C:
		}
	}
	return a.gateStatus(), nil
}

// Maintenance implements admin.Deployer.
func (n *Node) Maintenance(ctx context.Context, name string, req admin.MaintenanceRequest) (admin.GateStatus, error) {
	a, err := n.app(name)
	if err != nil {
		return admin.GateStatus{}, err
	}
	msg := req.Message
	if msg == "" {
		msg = "We are doing some maintenance and will be back shortly."
	}
	m := &deploy.Maintenance{Message: msg, Since: time.Now()}
	a.gate.Maintenance(m.Message, m.Since)
	n.log.Info("app in maintenance", "app", name, "message", msg)
	return a.gateStatus(), n.setMaintenance(a, m)
}

// Resume implements admin.Deployer.
func (n *Node) Resume(ctx context.Context, name string) (admin.GateStatus, error) {
	a, err := n.app(name)
	if err != nil {
		return admin.GateStatus{}, err
	}
	a.gate.Open()
	n.log.Info("app resumed", "app", name)
	return a.gateStatus(), n.setMaintenance(a, nil)
}

// setMaintenance keeps the maintenance mode in the app's state, so that a
// restarted node keeps it.
func (n *Node) setMaintenance(a *app, m *deploy.Maintenance) error {
	a.mu.Lock()
	a.state.Maintenance = m
	st := a.cloneStateLocked()
	a.mu.Unlock()
	return n.saveState(a, st)
}

// inFlight counts the requests a's instances are serving.
func (a *app) inFlight() int64 {
	var total int64
	for _, t := range a.pool.Targets() {
		total += t.InFlight
	}
	return total
}

func (a *app) gateStatus() admin.GateStatus {
	g := a.gate.State()
	return admin.GateStatus{Mode: string(g.Mode), Message: g.Message, Since: g.Since, Hold: g.Hold, Held: g.Held, InFlight: a.inFlight()}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
