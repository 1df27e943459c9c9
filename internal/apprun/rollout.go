package apprun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
)

// This file starts the rollouts this node coordinates: a deploy (or
// rollback) across the cluster, decided by a deploy.Rollout and run by a
// deploy.RolloutDriver — this node first (its release phase runs once,
// here), then the other nodes zone by zone — under the app's cluster-wide
// deploy lock.

// Peers reaches the other nodes of the cluster for rollouts.
type Peers interface {
	// Nodes lists the other nodes that run app now.
	Nodes(app string) []deploy.Member
	// For returns the peers of one rollout of app, asked for by who.
	For(app, who string) deploy.Peers
}

// startRollout takes the app's cluster-wide deploy lock and starts the
// rollout of lr to peers; it returns once this node's own deploy has
// started.
func (a *App) startRollout(ctx context.Context, lr localRequest, peers []deploy.Member) (deploy.EventLog, error) {
	a.mu.Lock()
	from, _ := a.state.CurrentRelease()
	a.mu.Unlock()
	holder := fmt.Sprintf("a %s of %s -> %s by %s, coordinated by %s since %s", lr.kind, from.Version, lr.rel.Version, lr.who, a.opts.Node, time.Now().Format(time.TimeOnly))
	lock, err := a.opts.Cluster.TryLock(ctx, "deploy/"+a.name, holder)
	var locked *cluster.LockedError
	switch {
	case errors.As(err, &locked):
		if locked.Holder == "" {
			locked.Holder = "another deploy (it is just starting)"
		}
		return nil, fmt.Errorf("%s %s: %w: the cluster is busy with %s (tandem deploy %s --watch at that node follows it)", lr.kind, a.name, ErrConflict, locked.Holder, a.name)
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", lr.kind, a.name, err)
	}
	drv, err := deploy.NewRolloutDriver(deploy.RolloutOptions{
		Kind: lr.kind, From: from.Version, To: lr.rel,
		Self:  deploy.Member{Name: a.opts.Node, Zone: a.opts.Zone},
		Nodes: peers, NodeTimeout: a.nodeTimeout(),
		Local:    localRollout{a: a, req: lr},
		Peers:    a.opts.Peers.For(a.name, lr.who+" via "+a.opts.Node),
		LockLost: lock.Lost(),
		Finish:   func(o deploy.RolloutOutcome) { a.endRollout(lock, lr, o) },
		Logger:   a.log.With("rollout", lr.rel.Version),
	})
	if err == nil {
		err = drv.Start()
	}
	if err != nil {
		a.unlock(ctx, lock)
		return nil, fmt.Errorf("%s %s: %w", lr.kind, a.name, err)
	}
	a.mu.Lock()
	a.rollout = drv
	a.mu.Unlock()
	if err := a.tasks.start(func(ctx context.Context) { drv.Run(ctx) }); err != nil {
		a.endRollout(lock, lr, deploy.RolloutOutcome{Result: deploy.ResultInterrupted})
		return nil, fmt.Errorf("%s %s: %w", lr.kind, a.name, err)
	}
	return drv, nil
}

// nodeTimeout bounds how long another node's roll may take: its waves of
// new instances, each within its startup allowance, an old one's drain
// and stop, and a margin for the stream.
func (a *App) nodeTimeout() time.Duration {
	o := a.opts
	waves := (o.Instances+o.Surge-1)/o.Surge + 1
	return time.Duration(waves)*(o.Startup+o.Drain+o.Process.StopGrace) + time.Minute
}

// endRollout is a rollout's end: the lock is released and, when the
// rollout succeeded, its release becomes the cluster's, so that the nodes
// it did not reach converge to it.
func (a *App) endRollout(lock *cluster.Lock, lr localRequest, o deploy.RolloutOutcome) {
	ctx := context.Background() // the rollout is over; the calls below are bounded by the cluster
	if o.Result == deploy.ResultSucceeded {
		a.publishDesired(ctx, lr.rel, fmt.Sprintf("%s by %s at %s", lr.kind, lr.who, a.opts.Node))
	}
	a.unlock(ctx, lock)
	a.mu.Lock()
	a.rollout = nil
	a.mu.Unlock()
	a.recheckDesired()
}

// unlock releases the cluster-wide deploy lock; if etcd cannot be told,
// the lock's lease ends it soon after.
func (a *App) unlock(ctx context.Context, lock *cluster.Lock) {
	if err := lock.Unlock(context.WithoutCancel(ctx)); err != nil {
		a.log.Warn("release the cluster deploy lock; it expires by itself", "err", err)
	}
}

// localRollout is this node's part of a rollout it coordinates.
type localRollout struct {
	a   *App
	req localRequest
}

var _ deploy.Local = localRollout{}

// Deploy implements deploy.Local.
func (l localRollout) Deploy(rel deploy.Release, releasePhase bool) (deploy.EventLog, error) {
	lr := l.req
	lr.rel, lr.kind, lr.skipRelease, lr.origin = rel, deploy.KindDeploy, !releasePhase, originRollout
	return l.a.startLocal(lr)
}

// Rollback implements deploy.Local.
func (l localRollout) Rollback(version string) (deploy.EventLog, error) {
	rel, ok := l.a.keptRelease(version)
	if !ok {
		return nil, fmt.Errorf("rollback %s: %w: release %q is not kept", l.a.name, ErrNotFound, version)
	}
	return l.a.startLocal(localRequest{rel: rel, kind: deploy.KindRollback, who: l.req.who, origin: originRollout})
}
