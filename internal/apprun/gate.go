package apprun

import (
	"context"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
)

// This file is the app's gate: pause holds its requests, maintenance
// answers them with a page (kept across restarts), resume lets them pass.

// Defaults of a pause.
const (
	DefaultPauseHold  = 30 * time.Second
	DefaultPauseDrain = 30 * time.Second
	drainPoll         = 20 * time.Millisecond
)

// GateStatus is the app's gate and the requests its instances serve.
type GateStatus struct {
	edge.GateState
	InFlight int64
}

// Pause holds new requests, each for up to hold (0: DefaultPauseHold),
// and returns once the requests in flight have finished or drain (0:
// DefaultPauseDrain) has passed; the status shows what is still in flight.
func (a *App) Pause(ctx context.Context, hold, drain time.Duration) (GateStatus, error) {
	if hold < 0 || drain < 0 {
		return GateStatus{}, fmt.Errorf("pause %s: %w: hold and drain must not be negative", a.name, ErrInvalid)
	}
	hold, drain = cmpOr(hold, DefaultPauseHold), cmpOr(drain, DefaultPauseDrain)
	if a.gate.State().Mode == edge.GateMaintenance {
		return GateStatus{}, fmt.Errorf("pause %s: %w: the app is in maintenance; resume it first", a.name, ErrConflict)
	}
	a.gate.Pause(hold)
	a.log.Info("app paused", "hold", hold)
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for a.inFlight() > 0 {
		select {
		case <-ctx.Done():
			return a.GateStatus(), ctx.Err()
		case <-deadline.C:
			return a.GateStatus(), nil
		case <-tick.C:
		}
	}
	return a.GateStatus(), nil
}

// DefaultMaintenanceMessage is the page's text when none is given.
const DefaultMaintenanceMessage = "We are doing some maintenance and will be back shortly."

// Maintenance answers every request with a 503 page showing message (""
// for DefaultMaintenanceMessage), until Resume, across restarts.
func (a *App) Maintenance(message string) (GateStatus, error) {
	if message == "" {
		message = DefaultMaintenanceMessage
	}
	m := &deploy.Maintenance{Message: message, Since: time.Now()}
	a.gate.Maintenance(m.Message, m.Since)
	a.log.Info("app in maintenance", "message", message)
	return a.GateStatus(), a.setMaintenance(m)
}

// Resume ends a pause or maintenance.
func (a *App) Resume() (GateStatus, error) {
	a.gate.Open()
	a.log.Info("app resumed")
	return a.GateStatus(), a.setMaintenance(nil)
}

// setMaintenance keeps the maintenance mode in the app's state, so that a
// restarted node keeps it.
func (a *App) setMaintenance(m *deploy.Maintenance) error {
	a.mu.Lock()
	a.state.Maintenance = m
	st := a.cloneStateLocked()
	a.mu.Unlock()
	return a.saveState(st)
}

// inFlight counts the requests the app's instances are serving.
func (a *App) inFlight() int64 {
	var total int64
	for _, t := range a.pool.Targets() {
		total += t.InFlight
	}
	return total
}

// GateStatus returns the app's gate and the requests in flight.
func (a *App) GateStatus() GateStatus {
	return GateStatus{GateState: a.gate.State(), InFlight: a.inFlight()}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
