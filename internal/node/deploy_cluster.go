package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
)

// stepZone is the step of a deploy across the cluster's own events: the
// plan, and each zone as it starts.
const stepZone = "zone"

// clusterDeploy is a deploy (or rollback) across the cluster, run by the
// node that received it: its own instances roll first (its release
// phase runs once, here), then the other nodes' zone by zone, each node
// rolling its own instances when asked over the node listener. A node
// that fails stops the deploy; the nodes done already roll back, in the
// reverse order. The cluster-wide lock deploy/<app> is held throughout.
type clusterDeploy struct {
	n      *Node
	a      *app
	kind   string
	who    string
	from   deploy.Release // what this node ran before; what a failed deploy rolls back to
	to     deploy.Release
	waves  [][]zoneNode      // the other nodes, in rollout order (planZones)
	local  admin.DeployWatch // this node's own deploy, started already
	unlock func(context.Context) error
	log    *slog.Logger

	mu      sync.Mutex // guards the fields below
	events  []admin.DeployEvent
	changed chan struct{} // closed and replaced when events grow or the deploy ends
	done    bool
}

// deployPeers are the other nodes of the cluster view that run app;
// none in a one-node cluster.
func (n *Node) deployPeers(app string) []zoneNode {
	if n.cl.view == nil {
		return nil
	}
	var out []zoneNode
	for name, nv := range n.cl.view.View().Nodes {
		if _, runs := nv.Apps[app]; runs && name != n.st.Cluster.Node {
			out = append(out, zoneNode{Name: name, Zone: nv.Info.Zone, Addr: nv.Info.NodeAddr})
		}
	}
	return out
}

// deployCluster takes the app's cluster-wide deploy lock, starts the
// deploy of rel on this node and, as a task, the rest of the rollout to
// peers; it returns a watch of the whole.
func (n *Node) deployCluster(ctx context.Context, a *app, rel deploy.Release, kind, who string, fromStack bool, peers []zoneNode) (admin.DeployWatch, error) {
	self := n.st.Cluster.Node
	a.mu.Lock()
	from, _ := a.state.CurrentRelease()
	a.mu.Unlock()
	holder := fmt.Sprintf("a %s of %s -> %s by %s, coordinated by %s since %s", kind, from.Version, rel.Version, who, self, time.Now().Format(time.TimeOnly))
	lctx, cancel := context.WithTimeout(ctx, controlTimeout)
	unlock, err := cluster.TryLockAs(lctx, n.cl.c.Client(), n.cl.c.Prefix(), "deploy/"+a.name, holder)
	cancel()
	var locked *cluster.LockedError
	switch {
	case errors.As(err, &locked):
		if locked.Holder == "" {
			locked.Holder = "another deploy (it is just starting)"
		}
		return nil, admin.Errorf(admin.ErrConflict, "%s %s: the cluster is busy with %s (tandem deploy %s --watch at that node follows it)", kind, a.name, locked.Holder, a.name)
	case err != nil:
		return nil, controlErr(fmt.Errorf("%s %s: %w", kind, a.name, err))
	}
	planned := time.Now() // the plan is the deploy's first event
	local, err := n.startDeploy(a, rel, kind, who, fromStack, false)
	if err != nil {
		n.releaseDeployLock(ctx, a.name, unlock)
		return nil, err
	}
	cd := &clusterDeploy{
		n: n, a: a, kind: kind, who: who, from: from, to: rel,
		waves:   planZones(zoneNode{Name: self, Zone: n.st.Cluster.Zone}, peers),
		local:   local,
		unlock:  unlock,
		log:     n.log.With("app", a.name, "cluster_deploy", rel.Version),
		changed: make(chan struct{}),
	}
	cd.emit(admin.DeployEvent{Time: planned, Step: stepZone, Version: rel.Version, Message: cd.planMessage()})
	a.mu.Lock()
	a.clusterDeploy = cd
	a.mu.Unlock()
	if err := n.tasks.start(cd.run); err != nil {
		a.mu.Lock()
		a.clusterDeploy = nil
		a.mu.Unlock()
		n.releaseDeployLock(ctx, a.name, unlock)
		return nil, fmt.Errorf("%s %s: %w", kind, a.name, err)
	}
	return cd.watch, nil
}

// releaseDeployLock releases the cluster-wide deploy lock of app; if
// etcd cannot be told, the lock's lease ends it soon after.
func (n *Node) releaseDeployLock(ctx context.Context, app string, unlock func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), controlTimeout)
	defer cancel()
	if err := unlock(ctx); err != nil {
		n.log.Warn("release the cluster deploy lock; it expires by itself", "app", app, "err", err)
	}
}

func (cd *clusterDeploy) planMessage() string {
	parts := []string{fmt.Sprintf("%s %s -> %s across the cluster: %s (zone %s) first", cd.kind, cd.from.Version, cd.to.Version, cd.n.st.Cluster.Node, cd.n.st.Cluster.Zone)}
	for _, wave := range cd.waves {
		parts = append(parts, fmt.Sprintf("zone %s (%s)", wave[0].Zone, nodeNames(wave)))
	}
	return strings.Join(parts, ", then ")
}

// run follows this node's deploy, rolls the other zones one after the
// other, and on a failure rolls back what was done. It ends the deploy
// and releases the lock.
func (cd *clusterDeploy) run(ctx context.Context) {
	begin := time.Now()
	self := cd.n.st.Cluster.Node
	last := cd.follow(ctx, self, cd.local)
	if last.Result != string(deploy.ResultSucceeded) {
		cd.end(ctx, last.Result, last.Version, fmt.Sprintf("%s: %s did not succeed (%s); no other node was changed", last.Result, self, last.Message))
		return
	}
	var done [][]zoneNode // per wave, the nodes that succeeded
	var failed []string
	for _, wave := range cd.waves {
		cd.emit(admin.DeployEvent{Step: stepZone, Version: cd.to.Version, Message: fmt.Sprintf("zone %s: %s %s", wave[0].Zone, cd.kind, nodeNames(wave))})
		ok, fails := cd.roll(ctx, wave, cd.forward)
		done = append(done, ok)
		if failed = fails; len(failed) > 0 {
			break
		}
	}
	all := []string{self} // the nodes that run cd.to now
	for _, wave := range done {
		if len(wave) > 0 {
			all = append(all, nodeNames(wave))
		}
	}
	if len(failed) == 0 {
		cd.end(ctx, string(deploy.ResultSucceeded), cd.to.Version, fmt.Sprintf("%s: %s runs on %s (%s)", deploy.ResultSucceeded, cd.to.Version,
			strings.Join(all, ", "), time.Since(begin).Round(time.Millisecond)))
		return
	}
	if ctx.Err() != nil {
		cd.end(ctx, string(deploy.ResultInterrupted), "", fmt.Sprintf("%s: tandem stopped during the %s; %s", deploy.ResultInterrupted, cd.kind, strings.Join(failed, "; ")))
		return
	}
	cd.emit(admin.DeployEvent{Step: deploy.StepRollback, Version: cd.from.Version,
		Message: fmt.Sprintf("rolling %s back to %s: %s", strings.Join(all, ", "), cd.from.Version, strings.Join(failed, "; "))})
	undoFailed := cd.undo(ctx, done)
	result := deploy.ResultRolledBack
	msg := fmt.Sprintf("%s: %s; %s runs on %s again", result, strings.Join(failed, "; "), cd.from.Version, strings.Join(all, ", "))
	if len(undoFailed) > 0 {
		result = deploy.ResultFailed
		msg = fmt.Sprintf("%s: %s; the rollback to %s failed too: %s", result, strings.Join(failed, "; "), cd.from.Version, strings.Join(undoFailed, "; "))
	}
	cd.end(ctx, string(result), cd.from.Version, fmt.Sprintf("%s (%s)", msg, time.Since(begin).Round(time.Millisecond)))
}

// undo rolls the nodes of done back to cd.from, the last zone first and
// this node last, and says which could not be.
func (cd *clusterDeploy) undo(ctx context.Context, done [][]zoneNode) []string {
	var failed []string
	for i := len(done) - 1; i >= 0; i-- {
		if len(done[i]) > 0 {
			_, fails := cd.roll(ctx, done[i], cd.rollBack)
			failed = append(failed, fails...)
		}
	}
	self := cd.n.st.Cluster.Node
	watch, err := cd.n.startDeploy(cd.a, cd.from, deploy.KindRollback, cd.who, false, false)
	if err != nil {
		return append(failed, fmt.Sprintf("%s: %v", self, err))
	}
	if last := cd.follow(ctx, self, watch); last.Result != string(deploy.ResultSucceeded) {
		failed = append(failed, fmt.Sprintf("%s: %s", self, last.Message))
	}
	return failed
}

// roll has every node of a wave (one zone) do op at once and waits for
// all of them; it returns the nodes that succeeded and what the others
// said.
func (cd *clusterDeploy) roll(ctx context.Context, wave []zoneNode, op func(context.Context, zoneNode) (admin.DeployEvent, error)) (ok []zoneNode, failed []string) {
	results := make([]string, len(wave)) // "" for success
	var wg sync.WaitGroup
	for i, nd := range wave {
		wg.Go(func() {
			last, err := op(ctx, nd)
			switch {
			case err != nil:
				results[i] = err.Error()
			case last.Result != string(deploy.ResultSucceeded):
				results[i] = fmt.Sprintf("%s did not succeed (%s)", nd.Name, last.Message)
			}
		})
	}
	wg.Wait()
	for i, nd := range wave {
		if results[i] == "" {
			ok = append(ok, nd)
		} else {
			cd.log.Warn("node did not succeed", "node", nd.Name, "kind", cd.kind, "reason", results[i])
			failed = append(failed, results[i])
		}
	}
	return ok, failed
}

// forward has nd do what this node did: roll to cd.to, without the
// release phase.
func (cd *clusterDeploy) forward(ctx context.Context, nd zoneNode) (admin.DeployEvent, error) {
	who := cd.who + " via " + cd.n.st.Cluster.Node
	onEvent := func(ev admin.DeployEvent) { cd.relay(nd.Name, ev) }
	if cd.kind == deploy.KindRollback {
		return cd.n.peerDeploy(ctx, nd, cd.a.name, "rollback", admin.RollbackRequest{Who: who, Version: cd.to.Version}, onEvent)
	}
	req := peerDeployRequest{Who: who, Release: cd.to, SkipReleasePhase: true}
	return cd.n.peerDeploy(ctx, nd, cd.a.name, "deploy", req, onEvent)
}

// rollBack has nd go back to cd.from.
func (cd *clusterDeploy) rollBack(ctx context.Context, nd zoneNode) (admin.DeployEvent, error) {
	req := admin.RollbackRequest{Who: cd.who + " via " + cd.n.st.Cluster.Node, Version: cd.from.Version}
	return cd.n.peerDeploy(ctx, nd, cd.a.name, "rollback", req, func(ev admin.DeployEvent) { cd.relay(nd.Name, ev) })
}

// follow relays the events of a deploy on this node until it ends (or
// ctx does) and returns its last event.
func (cd *clusterDeploy) follow(ctx context.Context, node string, watch admin.DeployWatch) admin.DeployEvent {
	next := 0
	var last admin.DeployEvent
	for {
		evs, done, changed := watch(next)
		next += len(evs)
		for _, ev := range evs {
			last = ev
			cd.relay(node, ev)
		}
		switch {
		case done && len(evs) == 0:
			return last
		case done:
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return admin.DeployEvent{Result: string(deploy.ResultInterrupted), Message: "tandem stopped during the " + cd.kind}
		}
	}
}

// relay adds one node's event to the deploy's: marked with the node, and
// without its result, which only the deploy as a whole has.
func (cd *clusterDeploy) relay(node string, ev admin.DeployEvent) {
	ev.Node, ev.Result = node, ""
	cd.emit(ev)
}

// end releases the lock and records the deploy's result as its last event.
func (cd *clusterDeploy) end(ctx context.Context, result, version, msg string) {
	cd.n.releaseDeployLock(ctx, cd.a.name, cd.unlock)
	cd.a.mu.Lock()
	if cd.a.clusterDeploy == cd {
		cd.a.clusterDeploy = nil
	}
	cd.a.mu.Unlock()
	level := slog.LevelInfo
	if result != string(deploy.ResultSucceeded) {
		level = slog.LevelWarn
	}
	cd.log.Log(ctx, level, "cluster deploy finished", "result", result, "message", msg)
	cd.emit(admin.DeployEvent{Step: deploy.StepDone, Version: version, Result: result, Message: msg})
	cd.mu.Lock()
	cd.done = true
	cd.notifyLocked()
	cd.mu.Unlock()
}

func (cd *clusterDeploy) emit(ev admin.DeployEvent) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	cd.events = append(cd.events, ev)
	cd.notifyLocked()
}

func (cd *clusterDeploy) notifyLocked() {
	close(cd.changed)
	cd.changed = make(chan struct{})
}

// watch is the deploy's admin.DeployWatch.
func (cd *clusterDeploy) watch(from int) ([]admin.DeployEvent, bool, <-chan struct{}) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	var evs []admin.DeployEvent
	if from < len(cd.events) {
		evs = append(evs, cd.events[from:]...)
	}
	return evs, cd.done, cd.changed
}

func nodeNames(nodes []zoneNode) string {
	names := make([]string, len(nodes))
	for i, nd := range nodes {
		names[i] = nd.Name
	}
	return strings.Join(names, ", ")
}
