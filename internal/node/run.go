package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/supervise"
)

// healthWatchInterval is how often the node looks for instances that have
// been unhealthy for longer than their app's health.restart_after.
const healthWatchInterval = time.Second

// Run starts the node and serves until ctx ends; then it drains the edge,
// stops the instances and returns. A part failing to start stops the parts
// already started.
func (n *Node) Run(ctx context.Context) error {
	defer n.stopTracing() // last: the spans of the drained requests are sent
	n.started = time.Now()
	defer n.audit.Close() // after the admin API has stopped: parts.Wait below
	if err := n.edge.Listen(); err != nil {
		return err
	}
	if err := n.admin.Listen(); err != nil {
		n.edge.Close()
		return err
	}
	err := n.openCluster(ctx)
	if err == nil {
		err = n.prepareAdmin(ctx) // the tokens live in the cluster
	}
	if err != nil {
		n.edge.Close()
		n.admin.Close()
		n.cl.c.Close()
		return err
	}
	defer n.peers.close()
	defer n.cl.c.Close() // after every part that uses it has stopped

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
	if n.cache != nil {
		run("cache", n.cache.Run)
	}
	run("admin", n.admin.Run)
	run("health watch", n.watchHealth)
	n.runCluster(run)

	n.tasks.begin(partsCtx)
	if err := n.startInstances(ctx); err != nil {
		stopParts()
		n.edge.Close()
		n.tasks.wait()
		parts.Wait()
		return err
	}
	if n.jobs != nil {
		if err := os.MkdirAll(filepath.Join(n.st.Cluster.DataDir, "jobs"), 0o700); err != nil {
			n.log.Error("jobs not run: create their directory", "err", err)
		} else {
			run("jobs", n.jobs.Run)
		}
	}
	if n.checks != nil {
		// The checks stop as soon as the node begins to stop: its own edge
		// draining is no outage to alert about.
		run("checks", func(pc context.Context) error {
			cctx, cancel := context.WithCancel(pc)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			return n.checks.Run(cctx)
		})
	}
	n.awaitPurges(ctx)
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
		n.leaveCluster() // other nodes stop sending requests here while the edge drains
	}()
	edgeErr := n.edge.Run(edgeCtx)

	n.log.Info("stopping instances")
	stopParts()
	n.tasks.wait()
	parts.Wait()
	n.log.Info("node stopped")
	return errors.Join(edgeErr, partsErr)
}

func (n *Node) newApp(name string, cfg *config.App) (*app, error) {
	a := &app{name: name, cfg: cfg}
	pool, err := balance.NewPool(n.tracedPool(poolOptions(n.st, name, cfg, n.log, n.peers, func(t balance.TargetStatus) { n.onHealthChange(a, t) })))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	a.pool = pool
	a.gate = edge.NewGate(pool)
	return a, nil
}

// startInstances starts every app's instances of its current release (see
// loadRelease) and adds them to their pools; they take traffic once their
// health checks pass.
func (n *Node) startInstances(ctx context.Context) error {
	store, err := deploy.OpenStore(filepath.Join(n.st.Cluster.DataDir, "releases"))
	if err != nil {
		return err
	}
	n.releases = store
	for _, a := range n.apps {
		rel, err := n.loadRelease(ctx, a)
		if err != nil {
			return err
		}
		for range a.cfg.Instances {
			if _, err := n.startInstance(ctx, a, rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// purgeURL is where an app sends PURGE requests: this node's edge over
// loopback. Empty when the edge serves no plain HTTP.
func (n *Node) purgeURL() string {
	for _, a := range n.edge.Addrs() {
		tcp, ok := a.(*net.TCPAddr)
		if !ok {
			continue
		}
		host := "127.0.0.1" // the edge listens on every address: loopback is one
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
		return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + "/"
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
	case supervise.EventCrashLoop:
		n.onCrashLoop(ev)
		return
	default:
		return
	}
	for _, a := range n.apps {
		if a.name == ev.App {
			a.pool.Reset(ev.Instance)
		}
	}
}

// onCrashLoop fails the health gate of a new instance that keeps crashing,
// rather than waiting for its startup allowance to run out.
func (n *Node) onCrashLoop(ev supervise.Event) {
	for _, a := range n.apps {
		if a.name != ev.App {
			continue
		}
		a.mu.Lock()
		d := a.deploy
		a.mu.Unlock()
		if d != nil {
			d.Failed(ev.Instance, "crash looping")
		}
	}
}

func (n *Node) onHealthChange(a *app, t balance.TargetStatus) {
	if t.Remote {
		return // another node's instances: their health comes from the cluster view
	}
	defer n.instancesChanged()
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
		if !in.retiring && !in.unhealthySince.IsZero() && now.Sub(in.unhealthySince) >= limit {
			in.unhealthySince = time.Time{}
			due = append(due, in)
		}
	}
	return due
}
