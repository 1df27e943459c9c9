package apprun

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/supervise"
)

// This file hands the apps from one tandem binary to the next, in the same
// process (an upgrade): the old binary checks nothing is cut and notes
// which instances its balancers find healthy; the new one adopts the
// instances its supervisor took over, with their names, ports and
// releases as the supervisor's specs hold them, rather than start new ones.

// HandoverCheck returns why the app cannot be handed over now (wrapping
// ErrConflict), nil if it can: a deploy or rollout that runs here would
// be cut, and requests held by a pause would outlast the handover's drain.
func (a *App) HandoverCheck() error {
	a.mu.Lock()
	deploying := a.deploy != nil || a.rollout != nil
	a.mu.Unlock()
	switch {
	case deploying:
		return fmt.Errorf("app %s: %w: a deploy is in progress; upgrade once it has ended", a.name, ErrConflict)
	case a.gate.State().Mode == edge.GatePaused:
		return fmt.Errorf("app %s: %w: the app is paused; resume it first", a.name, ErrConflict)
	}
	return nil
}

// Healthy returns the names of the app's instances its balancer finds
// healthy now, for the next binary's balancer to start them healthy.
func (a *App) Healthy() []string {
	var names []string
	for _, t := range a.pool.Targets() {
		if !t.Remote && t.State == balance.StateHealthy {
			names = append(names, t.ID)
		}
	}
	return names
}

// Adopt is Start for a node that took over running instances from the
// binary it ran before an upgrade: rather than start instances, the app
// adopts procs, its instances the supervisor took over, each on the port,
// with the name, release and index its environment gives; those named in
// healthy start healthy in the balancer. The release the app runs is the
// current one of its state: a changed stack file section becomes a
// release at the next restart or deploy, as an upgrade changes only the
// binary. env is the base of the environment of the processes it starts
// from now on.
func (a *App) Adopt(ctx context.Context, env []string, procs []*supervise.Instance, healthy map[string]bool) error {
	a.mu.Lock()
	a.env = env
	a.mu.Unlock()
	st, err := a.opts.Store.Load(a.name)
	if err != nil {
		return err
	}
	a.settleInterrupted(&st)
	if st.StackSpec == nil || !st.StackSpec.Equal(a.opts.Stack) {
		a.log.Warn("the stack file's section of the app changed; the instances run the current release until a restart or deploy (tandem apply)",
			"runs", st.Current, "stack_file", a.opts.StackFile)
	}
	a.mu.Lock()
	a.state = st
	a.mu.Unlock()
	if m := st.Maintenance; m != nil {
		a.gate.Maintenance(m.Message, m.Since)
	}
	a.holdUntilReady()
	for _, p := range procs {
		if err := a.adoptInstance(p, healthy[p.Name()]); err != nil {
			return err
		}
	}
	if n, want := len(procs), a.wantInstances(); n != want {
		a.log.Warn("adopted another number of instances than the stack file asks for; a restart or deploy applies it",
			"adopted", n, "instances", want)
	}
	a.readyIfHealthy()
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	a.opts.OnChange()
	a.log.Info("app adopted", "instances", len(procs), "release", st.Current)
	return ctx.Err()
}

// adoptInstance makes p, taken over by the supervisor, one of the app's
// instances and a target of its balancer.
func (a *App) adoptInstance(p *supervise.Instance, healthy bool) error {
	spec := p.Spec()
	port, err := strconv.Atoi(envValue(spec.Env, "PORT"))
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("adopt instance %s: its environment has no valid PORT", spec.Name)
	}
	in := &instance{
		name:    spec.Name,
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		proc:    p,
		version: envValue(spec.Env, "TANDEM_RELEASE"),
	}
	in.slot, _ = strconv.Atoi(envValue(spec.Env, "TANDEM_INSTANCE_INDEX"))
	seq, _ := strconv.Atoi(strings.TrimPrefix(spec.Name, a.name+"-"))
	a.mu.Lock()
	a.seq = max(a.seq, seq)
	a.instances = append(a.instances, in)
	a.mu.Unlock()
	if err := a.pool.Add(balance.Target{ID: in.name, Addr: in.addr, Zone: a.opts.Zone, Healthy: healthy}); err != nil {
		return fmt.Errorf("adopt instance %s: %w", in.name, err)
	}
	a.log.Info("instance taken over", "instance", in.name, "pid", p.Status().PID, "addr", in.addr, "release", in.version, "healthy", healthy)
	return nil
}

// isInstanceOf reports whether p is one of app's instances, rather than a
// one-off process (a job, a release phase) or another app's.
func isInstanceOf(p *supervise.Instance, app string) bool {
	spec := p.Spec()
	return spec.App == app && !spec.Once && envValue(spec.Env, "TANDEM_INSTANCE") == spec.Name
}

// envValue returns the value of key in env, the last one if several.
func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// Adopt adopts, app by app, the instances the supervisor took over from
// the binary that ran before an upgrade (see App.Adopt); healthy names the
// instances that were healthy. Instances of apps the stack file no longer
// has are stopped; one-off processes (jobs) are left to finish.
func (s *Set) Adopt(ctx context.Context, env []string, procs []*supervise.Instance, healthy map[string]bool) error {
	for _, a := range s.apps {
		var mine []*supervise.Instance
		for _, p := range procs {
			if isInstanceOf(p, a.name) {
				mine = append(mine, p)
			}
		}
		if err := a.Adopt(ctx, env, mine, healthy); err != nil {
			return err
		}
	}
	for _, p := range procs {
		spec := p.Spec()
		if _, err := s.App(spec.App); err != nil && !spec.Once {
			stopNow(p)
		}
	}
	return nil
}

// stopNow asks p to stop (stop signal, grace, SIGKILL) without waiting.
func stopNow(p *supervise.Instance) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Stop(ctx) // the stop goes on; ctx only bounds the wait
}
