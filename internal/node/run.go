package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/supervise"
)

// healthWatchInterval is how often the node looks for instances that have
// been unhealthy for longer than their app's health.restart_after.
const healthWatchInterval = time.Second

// Run starts the node and serves until ctx ends; then it drains the edge,
// stops the instances and returns. A part failing to start stops the parts
// already started.
func (n *Node) Run(ctx context.Context) error {
	n.started = time.Now()
	if err := n.edge.Listen(); err != nil {
		return err
	}
	if err := n.admin.Listen(); err != nil {
		n.edge.Close()
		return err
	}

	// The supervisor and balancers outlive ctx: they must keep serving
	// while the edge drains, and stop only after it.
	partsCtx, stopParts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParts()
	var parts sync.WaitGroup
	var partsErr error
	var errMu sync.Mutex
	run := func(name string, f func(context.Context) error) {
		parts.Go(func() {
			if err := f(partsCtx); err != nil {
				errMu.Lock()
				partsErr = errors.Join(partsErr, fmt.Errorf("%s: %w", name, err))
				errMu.Unlock()
				stopParts()
			}
		})
	}
	run("supervisor", n.sup.Run)
	for _, a := range n.apps {
		run("balancer "+a.name, a.pool.Run)
	}
	run("admin", n.admin.Run)
	run("health watch", n.watchHealth)

	if err := n.startInstances(ctx); err != nil {
		stopParts()
		n.edge.Close()
		parts.Wait()
		return err
	}
	n.log.Info("node started", "node", n.st.Cluster.Node, "zone", n.st.Cluster.Zone, "apps", len(n.apps))

	// Serve until ctx ends or a part fails.
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()
	go func() {
		select {
		case <-partsCtx.Done():
			stopEdge()
		case <-edgeCtx.Done():
		}
	}()
	edgeErr := n.edge.Run(edgeCtx)

	n.log.Info("stopping instances")
	stopParts()
	parts.Wait()
	n.log.Info("node stopped")
	return errors.Join(edgeErr, partsErr)
}

func (n *Node) newApp(name string, cfg *config.App) (*app, error) {
	a := &app{name: name, cfg: cfg}
	pool, err := balance.NewPool(poolOptions(n.st, name, cfg, n.log, func(t balance.TargetStatus) { n.onHealthChange(a, t) }))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	a.pool = pool
	return a, nil
}

// startInstances starts every app's instances and adds them to their
// pools; they take traffic once their health checks pass.
func (n *Node) startInstances(ctx context.Context) error {
	for _, a := range n.apps {
		for i := 1; i <= a.cfg.Instances; i++ {
			name := a.name + "-" + strconv.Itoa(i)
			port, err := freePort()
			if err != nil {
				return fmt.Errorf("start instance %s: %w", name, err)
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			proc, err := n.sup.Start(ctx, n.processSpec(a, name, i, port))
			if err != nil {
				return err
			}
			a.mu.Lock()
			a.instances = append(a.instances, &instance{name: name, addr: addr, proc: proc})
			a.mu.Unlock()
			if err := a.pool.Add(balance.Target{ID: name, Addr: addr, Zone: n.st.Cluster.Zone}); err != nil {
				return fmt.Errorf("start instance %s: %w", name, err)
			}
		}
	}
	return nil
}

func (n *Node) processSpec(a *app, name string, index, port int) supervise.Spec {
	c := a.cfg
	env := append([]string(nil), n.opts.Environ...)
	for _, k := range sortedKeys(c.Env) {
		env = append(env, k+"="+c.Env[k])
	}
	env = append(env,
		"PORT="+strconv.Itoa(port),
		"TANDEM_APP="+a.name,
		"TANDEM_INSTANCE="+name,
		"TANDEM_INSTANCE_INDEX="+strconv.Itoa(index),
		"TANDEM_NODE="+n.st.Cluster.Node,
		"TANDEM_ZONE="+n.st.Cluster.Zone,
	)
	if purge := n.purgeURL(); purge != "" {
		env = append(env, "TANDEM_PURGE_URL="+purge)
	}
	return supervise.Spec{
		Name:        name,
		App:         a.name,
		Command:     c.Command,
		Dir:         c.Dir,
		Env:         env,
		MemoryLimit: int64(c.Limits.Memory),
		StopSignal:  c.Stop.Signal,
		StopGrace:   time.Duration(c.Stop.Grace),
		MinBackoff:  time.Duration(c.Restart.MinBackoff),
		MaxBackoff:  time.Duration(c.Restart.MaxBackoff),
	}
}

// purgeURL is where an app sends PURGE requests: this node's edge over
// loopback. Empty when the edge serves no plain HTTP.
func (n *Node) purgeURL() string {
	for _, a := range n.edge.Addrs() {
		tcp, ok := a.(*net.TCPAddr)
		if !ok {
			continue
		}
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)) + "/"
	}
	return ""
}

// freePort asks the kernel for an unused loopback port. The port is free
// when it answers; the instance binds it moments later.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// onProcessEvent keeps the balancer in step with the processes: an
// instance whose process exited or restarted takes no traffic until its
// health check passes again.
func (n *Node) onProcessEvent(ev supervise.Event) {
	switch ev.Kind {
	case supervise.EventStarted, supervise.EventExited, supervise.EventOOMKilled:
	default:
		return
	}
	for _, a := range n.apps {
		if a.name == ev.App {
			a.pool.Reset(ev.Instance)
		}
	}
}

func (n *Node) onHealthChange(a *app, t balance.TargetStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
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

// watchHealth restarts instances that stayed unhealthy for longer than
// their app's health.restart_after: a hung process is not coming back by
// itself.
func (n *Node) watchHealth(ctx context.Context) error {
	t := time.NewTicker(healthWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			for _, a := range n.apps {
				limit := time.Duration(a.cfg.Health.RestartAfter)
				if limit <= 0 {
					continue
				}
				for _, in := range a.restartDue(now, limit) {
					n.log.Warn("restarting unhealthy instance", "app", a.name, "instance", in.name, "unhealthy_for", limit.String())
					in.proc.Restart(fmt.Sprintf("health check failing for %s", limit))
				}
			}
		}
	}
}

// restartDue returns the instances unhealthy for longer than limit and
// resets their clocks, so each gets one restart per period.
func (a *app) restartDue(now time.Time, limit time.Duration) []*instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	var due []*instance
	for _, in := range a.instances {
		if !in.unhealthySince.IsZero() && now.Sub(in.unhealthySince) >= limit {
			in.unhealthySince = time.Time{}
			due = append(due, in)
		}
	}
	return due
}
