package apprun

import (
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/supervise"
)

// healthWatchInterval is how often an app looks for instances that have
// been unhealthy for longer than RestartAfter.
const healthWatchInterval = time.Second

// onHealthChange follows the balancer's view of the instances: a deploy
// waits on it, and RestartAfter counts from it.
func (a *App) onHealthChange(t balance.TargetStatus) {
	if t.State == balance.StateHealthy {
		a.gate.Ready()
	}
	if t.Remote {
		return // another node's instances: their health comes from the cluster view
	}
	defer a.opts.OnChange()
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.State == balance.StateHealthy && a.deploy != nil {
		a.deploy.Healthy(t.ID) // never blocks
	}
	for _, in := range a.instances {
		if in.name != t.ID {
			continue
		}
		if t.State == balance.StateUnhealthy {
			if in.unhealthySince.IsZero() {
				in.unhealthySince = time.Now()
			}
		} else {
			in.unhealthySince = time.Time{}
		}
	}
}

// holdUntilReady makes the gate hold the app's requests while the node
// starts, until an instance is healthy (see edge.Gate.HoldUntilReady), for
// at most the startup allowance of a new instance: a request that waits a
// moment gets its page, where the balancer would answer 503 at once. An
// app that runs no instance on this node holds nothing: its requests go
// to other nodes, or get the 503 at once. An app with a healthy instance
// on another node (a remote target) is ready already: that node takes
// the requests until an instance here is healthy. An instance in a crash
// loop ends the hold too (onProcessEvent).
func (a *App) holdUntilReady() {
	if a.wantInstances() == 0 {
		return
	}
	a.gate.HoldUntilReady(a.opts.Startup)
	a.readyIfHealthy()
}

// readyIfHealthy ends the gate's startup hold if a target of the pool is
// healthy already: a remote one reported before the hold began, or a
// local one without health checks (healthy when added, never reported).
func (a *App) readyIfHealthy() {
	for _, t := range a.pool.Targets() {
		if t.State == balance.StateHealthy {
			a.gate.Ready()
			return
		}
	}
}

// onProcessEvent keeps the balancer in step with the processes: an
// instance whose process exited or restarted takes no traffic until its
// health check passes again. A new instance that keeps crashing fails
// its deploy's health gate at once, rather than when its startup
// allowance runs out.
func (a *App) onProcessEvent(ev supervise.Event) {
	switch ev.Kind {
	case supervise.EventStarted, supervise.EventExited, supervise.EventOOMKilled:
		a.pool.Reset(ev.Instance)
	case supervise.EventCrashLoop:
		// Not coming up soon: a starting app's requests get the 503 now
		// rather than at the end of the startup hold.
		a.gate.Ready()
		a.mu.Lock()
		d := a.deploy
		a.mu.Unlock()
		if d != nil {
			d.Failed(ev.Instance, "crash looping")
		}
	}
}

// restartUnhealthy restarts the instances unhealthy for longer than
// RestartAfter: a hung process is not coming back by itself.
func (a *App) restartUnhealthy(now time.Time) {
	limit := a.opts.RestartAfter
	if limit <= 0 {
		return
	}
	for _, in := range a.restartDue(now, limit) {
		a.log.Warn("restarting unhealthy instance", "instance", in.name, "unhealthy_for", limit.String())
		in.proc.Restart(fmt.Sprintf("health check failing for %s", limit))
	}
}

// restartDue returns the instances unhealthy for longer than limit and
// resets their clocks, so each gets one restart per period.
func (a *App) restartDue(now time.Time, limit time.Duration) []*instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	var due []*instance
	for _, in := range a.instances {
		if !in.retiring && !in.unhealthySince.IsZero() && now.Sub(in.unhealthySince) >= limit {
			in.unhealthySince = time.Time{}
			due = append(due, in)
		}
	}
	return due
}
