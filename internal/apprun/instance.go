package apprun

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// instance is one supervised process and its balancer target.
type instance struct {
	name string
	addr string
	proc *supervise.Instance
	// version is the release it runs; slot its TANDEM_INSTANCE_INDEX.
	version string
	slot    int
	// unhealthySince is when the balancer last saw the instance turn
	// unhealthy; zero while it is healthy or starting. Guarded by App.mu.
	unhealthySince time.Time
	// retiring is set once a deploy drains it. Guarded by App.mu.
	retiring bool
}

// startInstance starts one instance of rel and adds it to the pool,
// where it takes requests once its health check passes.
func (a *App) startInstance(ctx context.Context, rel deploy.Release) (string, error) {
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
	proc, err := a.opts.Processes.Start(ctx, a.instanceSpec(rel, name, slot, port))
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.instances = append(a.instances, &instance{name: name, addr: addr, proc: proc, version: rel.Version, slot: slot})
	a.mu.Unlock()
	if err := a.pool.Add(balance.Target{ID: name, Addr: addr, Zone: a.opts.Zone}); err != nil {
		return "", fmt.Errorf("start instance %s: %w", name, err)
	}
	a.opts.OnChange()
	return name, nil
}

// freeSlotLocked returns the lowest instance index (TANDEM_INSTANCE_INDEX,
// from 1) no instance of version uses.
func (a *App) freeSlotLocked(version string) int {
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

// releaseEnv is the environment of everything run for a release: the
// node's environment, the release's env and what tandem tells its
// processes.
func (a *App) releaseEnv(rel deploy.Release) []string {
	a.mu.Lock()
	env := slices.Clone(a.env)
	a.mu.Unlock()
	if a.opts.Env != nil {
		env = append(env, a.opts.Env()...)
	}
	for _, k := range sortedKeys(rel.Env) {
		env = append(env, k+"="+rel.Env[k])
	}
	return append(env,
		"TANDEM_APP="+a.name,
		"TANDEM_RELEASE="+rel.Version,
		"TANDEM_NODE="+a.opts.Node,
		"TANDEM_ZONE="+a.opts.Zone,
	)
}

func (a *App) instanceSpec(rel deploy.Release, name string, slot, port int) supervise.Spec {
	p := a.opts.Process
	env := append(a.releaseEnv(rel),
		"PORT="+strconv.Itoa(port),
		"TANDEM_INSTANCE="+name,
		"TANDEM_INSTANCE_INDEX="+strconv.Itoa(slot),
	)
	if a.opts.InstanceEnv != nil {
		env = overrideEnv(env, a.opts.InstanceEnv())
	}
	return supervise.Spec{
		Name:        name,
		App:         a.name,
		Command:     rel.Command,
		Dir:         rel.Dir,
		Env:         env,
		MemoryLimit: p.MemoryLimit,
		StopSignal:  p.StopSignal,
		StopGrace:   p.StopGrace,
		MinBackoff:  p.MinBackoff,
		MaxBackoff:  p.MaxBackoff,
	}
}

// runRelease runs rel's release command once, passing its output lines
// to output. A non-zero exit is an error.
func (a *App) runRelease(ctx context.Context, rel deploy.Release, output func(line string)) error {
	p := a.opts.Process
	ex, err := a.opts.Processes.RunOnce(ctx, supervise.Spec{
		Name:        a.name + "-release-" + rel.Version,
		App:         a.name,
		Command:     rel.ReleaseCommand,
		Dir:         rel.Dir,
		Env:         a.releaseEnv(rel),
		MemoryLimit: p.MemoryLimit,
		StopSignal:  p.StopSignal,
		StopGrace:   p.StopGrace,
		Output:      func(_, line string) { output(line) },
	})
	switch {
	case err != nil:
		return err
	case ex.Code != 0:
		return fmt.Errorf("%s: %s", strings.Join(rel.ReleaseCommand, " "), ex.Describe())
	}
	return nil
}

// RunOnceEnv is the environment and working directory of a one-off
// process of the app (a job): those of its current release.
func (a *App) RunOnceEnv() (env []string, dir string, err error) {
	a.mu.Lock()
	rel, ok := a.state.CurrentRelease()
	a.mu.Unlock()
	if !ok {
		return nil, "", fmt.Errorf("app %s: %w: it has no release yet", a.name, ErrConflict)
	}
	return a.releaseEnv(rel), rel.Dir, nil
}

// retireInstance takes an instance out of service: no new requests, the
// ones in flight (WebSockets included) get up to drain to finish, then the
// process is stopped (stop signal, grace, SIGKILL). A drain that runs out
// of time is reported; the instance is stopped anyway.
func (a *App) retireInstance(ctx context.Context, name string, drain time.Duration) error {
	a.mu.Lock()
	i := slices.IndexFunc(a.instances, func(in *instance) bool { return in.name == name })
	if i < 0 {
		a.mu.Unlock()
		return fmt.Errorf("retire instance %s: no such instance", name)
	}
	in := a.instances[i]
	in.retiring = true
	a.mu.Unlock()
	a.opts.OnChange()

	dctx, cancel := context.WithTimeout(ctx, drain)
	drainErr := a.pool.Drain(dctx, name)
	cancel()
	if err := a.pool.Remove(name); err != nil {
		a.log.Warn("remove instance from the balancer", "instance", name, "err", err)
	}
	stopErr := in.proc.Stop(ctx)
	a.mu.Lock()
	a.instances = slices.DeleteFunc(a.instances, func(o *instance) bool { return o == in })
	a.mu.Unlock()
	a.opts.OnChange()
	switch {
	case drainErr != nil:
		return fmt.Errorf("retire instance %s: %w", name, drainErr)
	case stopErr != nil:
		return fmt.Errorf("retire instance %s: %w", name, stopErr)
	}
	return nil
}

// overrideEnv returns env with the variables of over in place of its own
// of the same names: a process reading its environment may take the
// first of two entries of a name (Go's os.Getenv does), so the old ones
// go.
func overrideEnv(env, over []string) []string {
	env = slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.ContainsFunc(over, func(o string) bool { return strings.HasPrefix(o, k+"=") })
	})
	return append(env, over...)
}
