package node

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// This file runs releases: the instances of a release, its release phase,
// and the choice of the release an app runs when the node starts.

// stackSpec is the release an app's section of the stack file describes.
func stackSpec(c *config.App) deploy.Spec {
	return deploy.Spec{Command: slices.Clone(c.Command), Dir: c.Dir, Env: maps.Clone(c.Env), ReleaseCommand: slices.Clone(c.Release)}
}

// loadRelease decides which release a starts with: the current one of its
// stored state, or a new one when the stack file's app section changed
// (or on the very first start); a new release's release phase runs first.
// A deploy the node was in the middle of when it stopped is recorded as
// interrupted: the instances died with the node, and the release that was
// current before it runs again.
func (n *Node) loadRelease(ctx context.Context, a *app) (deploy.Release, error) {
	st, err := n.releases.Load(a.name)
	if err != nil {
		return deploy.Release{}, err
	}
	now := time.Now()
	if p := st.Pending; p != nil {
		rec := *p
		rec.Finished, rec.Result = now, deploy.ResultInterrupted
		rec.Reason = fmt.Sprintf("tandem stopped during the %s; started again with %s", rec.Kind, st.Current)
		st.AddRecord(rec)
		st.Pending = nil
		n.log.Warn("deploy was interrupted by a stop; rolled back", "app", a.name, "from", rec.From, "to", rec.To, "runs", st.Current)
	}
	spec := stackSpec(a.cfg)
	cur, ok := st.CurrentRelease()
	changed := !ok || (st.StackSpec == nil || !st.StackSpec.Equal(spec)) && !cur.Spec().Equal(spec)
	if changed {
		if cur, err = n.releaseFromStack(ctx, a, &st, spec, cur, ok); err != nil {
			return deploy.Release{}, err
		}
	}
	st.StackSpec = &spec
	if err := n.releases.Save(st); err != nil {
		return deploy.Release{}, err
	}
	a.mu.Lock()
	a.state = st
	a.mu.Unlock()
	if m := st.Maintenance; m != nil {
		a.gate.Maintenance(m.Message, m.Since)
	}
	return cur, nil
}

// releaseFromStack makes the stack file's app section the current release
// of st, after its release phase. When that fails, a node that has a
// release keeps it; a node starting for the first time cannot start.
func (n *Node) releaseFromStack(ctx context.Context, a *app, st *deploy.AppState, spec deploy.Spec, cur deploy.Release, hasCur bool) (deploy.Release, error) {
	rel := deploy.Release{Version: deploy.AutoVersion(st.Seq + 1), Command: spec.Command, Dir: spec.Dir, Env: spec.Env,
		ReleaseCommand: spec.ReleaseCommand, Created: time.Now(), Source: deploy.SourceStack}
	rec := deploy.Record{ID: st.NextID(), Kind: deploy.KindDeploy, Who: "stack file " + n.st.File, From: cur.Version, To: rel.Version, Started: rel.Created}
	st.Seq++
	st.AddRelease(rel, a.cfg.Deploy.History)
	var err error
	if rel.ReleaseCommand != nil {
		n.log.Info("release phase", "app", a.name, "version", rel.Version, "command", strings.Join(rel.ReleaseCommand, " "))
		rctx, cancel := context.WithTimeout(ctx, time.Duration(a.cfg.Deploy.ReleaseTimeout))
		err = n.runRelease(rctx, a, rel, func(string) {})
		cancel()
	}
	rec.Finished = time.Now()
	if err != nil {
		rec.Result, rec.Reason = deploy.ResultFailed, "release phase failed: "+err.Error()
		st.AddRecord(rec)
		if !hasCur {
			return deploy.Release{}, fmt.Errorf("start app %s: release %s: %w", a.name, rel.Version, err)
		}
		n.log.Error("release phase of the stack file's release failed; keeping the current release", "app", a.name,
			"version", rel.Version, "current", cur.Version, "err", err)
		return cur, nil
	}
	rec.Result = deploy.ResultSucceeded
	st.AddRecord(rec)
	st.Current = rel.Version
	n.log.Info("new release from the stack file", "app", a.name, "version", rel.Version, "previous", cur.Version)
	return rel, nil
}

// releaseEnv is the environment of everything run for a release: tandem's
// environment, the release's env and what tandem tells its processes.
func (n *Node) releaseEnv(a *app, rel deploy.Release) []string {
	env := slices.Clone(n.opts.Environ)
	for _, k := range sortedKeys(rel.Env) {
		env = append(env, k+"="+rel.Env[k])
	}
	env = append(env,
		"TANDEM_APP="+a.name,
		"TANDEM_RELEASE="+rel.Version,
		"TANDEM_NODE="+n.st.Cluster.Node,
		"TANDEM_ZONE="+n.st.Cluster.Zone,
	)
	if purge := n.purgeURL(); purge != "" {
		env = append(env, "TANDEM_PURGE_URL="+purge)
	}
	return env
}

// runRelease runs rel's release command once, passing its output lines
// to output. A non-zero exit is an error.
func (n *Node) runRelease(ctx context.Context, a *app, rel deploy.Release, output func(line string)) error {
	c := a.cfg
	ex, err := n.sup.RunOnce(ctx, supervise.Spec{
		Name:        a.name + "-release-" + rel.Version,
		App:         a.name,
		Command:     rel.ReleaseCommand,
		Dir:         rel.Dir,
		Env:         n.releaseEnv(a, rel),
		MemoryLimit: int64(c.Limits.Memory),
		StopSignal:  c.Stop.Signal,
		StopGrace:   time.Duration(c.Stop.Grace),
		Output:      func(_, line string) { output(line) },
	})
	switch {
	case err != nil:
		return err
	case ex.Code != 0:
		return fmt.Errorf("%s: %s", strings.Join(rel.ReleaseCommand, " "), describeExit(&ex))
	}
	return nil
}

// startInstance starts one instance of rel and adds it to a's pool, where
// it takes requests once its health check passes.
func (n *Node) startInstance(ctx context.Context, a *app, rel deploy.Release) (string, error) {
	a.mu.Lock()
	a.seq++
	name := a.name + "-" + strconv.Itoa(a.seq)
	slot := a.freeSlotLocked(rel.Version)
	a.mu.Unlock()
	port, err := freePort()
	if err != nil {
		return "", fmt.Errorf("start instance %s: %w", name, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	proc, err := n.sup.Start(ctx, n.instanceSpec(a, rel, name, slot, port))
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.instances = append(a.instances, &instance{name: name, addr: addr, proc: proc, version: rel.Version, slot: slot})
	a.mu.Unlock()
	if err := a.pool.Add(balance.Target{ID: name, Addr: addr, Zone: n.st.Cluster.Zone}); err != nil {
		return "", fmt.Errorf("start instance %s: %w", name, err)
	}
	return name, nil
}

// freeSlotLocked returns the lowest instance index (TANDEM_INSTANCE_INDEX,
// from 1) no instance of version uses.
func (a *app) freeSlotLocked(version string) int {
	used := make(map[int]bool)
	for _, in := range a.instances {
		if in.version == version && !in.retiring {
			used[in.slot] = true
		}
	}
	slot := 1
	for used[slot] {
		slot++
	}
	return slot
}

func (n *Node) instanceSpec(a *app, rel deploy.Release, name string, slot, port int) supervise.Spec {
	c := a.cfg
	env := append(n.releaseEnv(a, rel),
		"PORT="+strconv.Itoa(port),
		"TANDEM_INSTANCE="+name,
		"TANDEM_INSTANCE_INDEX="+strconv.Itoa(slot),
	)
	return supervise.Spec{
		Name:        name,
		App:         a.name,
		Command:     rel.Command,
		Dir:         rel.Dir,
		Env:         env,
		MemoryLimit: int64(c.Limits.Memory),
		StopSignal:  c.Stop.Signal,
		StopGrace:   time.Duration(c.Stop.Grace),
		MinBackoff:  time.Duration(c.Restart.MinBackoff),
		MaxBackoff:  time.Duration(c.Restart.MaxBackoff),
	}
}

// retireInstance takes an instance out of service: no new requests, the
// ones in flight (WebSockets included) get up to drain to finish, then the
// process is stopped (stop signal, grace, SIGKILL). A drain that runs out
// of time is reported; the instance is stopped anyway.
func (n *Node) retireInstance(ctx context.Context, a *app, name string, drain time.Duration) error {
	a.mu.Lock()
	i := slices.IndexFunc(a.instances, func(in *instance) bool { return in.name == name })
	if i < 0 {
		a.mu.Unlock()
		return fmt.Errorf("retire instance %s: no such instance", name)
	}
	in := a.instances[i]
	in.retiring = true
	a.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, drain)
	drainErr := a.pool.Drain(dctx, name)
	cancel()
	if err := a.pool.Remove(name); err != nil {
		n.log.Warn("remove instance from the balancer", "app", a.name, "instance", name, "err", err)
	}
	stopErr := in.proc.Stop(ctx)
	a.mu.Lock()
	a.instances = slices.DeleteFunc(a.instances, func(o *instance) bool { return o == in })
	a.mu.Unlock()
	switch {
	case drainErr != nil:
		return fmt.Errorf("retire instance %s: %w", name, drainErr)
	case stopErr != nil:
		return fmt.Errorf("retire instance %s: %w", name, stopErr)
	}
	return nil
}
