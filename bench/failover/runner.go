package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// runner runs the rounds: in each, every setup in turn gets a fresh
// cluster, runs each scenario once and is stopped.
type runner struct {
	o       options
	bins    map[string]string
	tandem  string // the tandem binary
	app     string // this program, tandem's app
	dir     string
	log     io.Writer
	machine host.Machine
	kept    bool // a failed cluster's files were kept in dir
}

func newRunner(ctx context.Context, o options, bins map[string]string, dir string, logw io.Writer) (*runner, error) {
	app, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, bins: bins, tandem: o.tandem, app: app, dir: dir, log: logw, machine: host.Describe()}
	needTandem := slices.ContainsFunc(o.setups, func(s setup) bool { return s.System == "tandem" })
	if needTandem && r.tandem == "" {
		r.tandem = filepath.Join(dir, "tandem")
		build := exec.CommandContext(ctx, "go", "build", "-o", r.tandem, "./cmd/tandem")
		build.Stdout, build.Stderr = logw, logw
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build tandem (run from the repository root or give -tandem): %w", err)
		}
	}
	v := r.machine.Versions
	v["postgresql"] = version(ctx, filepath.Join(bins["pgbin"], "postgres"), "--version")
	if needTandem {
		v["tandem"] = version(ctx, r.tandem, "--version")
	}
	if bins["patroni"] != "" {
		v["patroni"] = version(ctx, bins["patroni"], "--version")
		v["etcd"] = version(ctx, bins["etcd"], "--version")
	}
	return r, nil
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	rep := &Report{Date: time.Now(), Settings: Settings{Rounds: r.o.rounds, Scenarios: r.o.scenarios, Setups: r.o.setups}}
	for round := 1; round <= r.o.rounds; round++ {
		for _, s := range r.o.setups {
			rep.Trials = append(rep.Trials, r.round(ctx, s, round)...)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("interrupted: %w", err)
			}
		}
	}
	r.machine.LoadAvg[1] = host.LoadAvg()
	rep.Machine = r.machine
	rep.summarize()
	return rep, nil
}

// round runs one setup's scenarios on a fresh cluster. A scenario that
// fails ends the round (the cluster's state is unknown); its files are
// kept.
func (r *runner) round(ctx context.Context, s setup, round int) []Trial {
	fmt.Fprintf(r.log, "%s  round %d: %s\n", stamp(), round, s.Name)
	cdir := filepath.Join(r.dir, fmt.Sprintf("%s-r%d", s.Name, round))
	var trials []Trial
	fail := func(scenario string, err error) {
		t := newTrial(s.Name, round, scenario)
		t.Error = err.Error()
		trials = append(trials, t)
	}
	if err := os.Mkdir(cdir, 0o711); err != nil {
		fail(scenarioOrder(r.o.scenarios, round)[0], err)
		return trials
	}
	c, err := r.newCluster(s, cdir)
	if err != nil {
		fail(scenarioOrder(r.o.scenarios, round)[0], fmt.Errorf("set up the cluster: %w", err))
		return trials
	}
	failed := false
	if err := startCluster(ctx, c); err != nil {
		fail(scenarioOrder(r.o.scenarios, round)[0], err)
		failed = true
	}
	for _, sc := range scenarioOrder(r.o.scenarios, round) {
		if failed {
			break
		}
		t := newTrial(s.Name, round, sc)
		err := r.scenario(ctx, c, s, &t)
		if err == nil {
			err = waitReady(ctx, c) // the next scenario starts from a healthy cluster
		}
		if err != nil {
			t.Error, failed = err.Error(), true
		}
		fmt.Fprintf(r.log, "%s  %s\n", stamp(), t.line())
		trials = append(trials, t)
	}
	// An interrupted round is not a failure worth keeping files for.
	keep := failed && ctx.Err() == nil
	if kept := c.Stop(keep || r.o.keep); kept != "" && keep {
		r.kept = true
		for i := range trials {
			if !trials[i].OK() {
				trials[i].Logs = kept
			}
		}
	}
	return trials
}

// scenarioOrder is the order of the scenarios in a round: as given in
// odd rounds, reversed in even ones. A tandem cluster starts with its
// primary and its etcd leader on the first node: a failover first kills
// both, a failover after a switchover kills the primary alone, and each
// case gets half the rounds.
func scenarioOrder(scenarios []string, round int) []string {
	if round%2 == 1 {
		return scenarios
	}
	out := slices.Clone(scenarios)
	slices.Reverse(out)
	return out
}

// startable is a cluster before it runs.
type startable interface {
	cluster
	Start(ctx context.Context) error
}

func startCluster(ctx context.Context, c startable) error {
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start the cluster: %w", err)
	}
	if err := waitReady(ctx, c); err != nil {
		return err
	}
	return nil
}

func (r *runner) newCluster(s setup, dir string) (startable, error) {
	if s.System == "tandem" {
		return newTandemCluster(r.tandem, r.app, dir, r.log)
	}
	return newPatroniCluster(r.bins, s, dir, r.log)
}

func (r *runner) scenario(ctx context.Context, c cluster, s setup, t *Trial) error {
	if t.Scenario == scenarioFailover {
		return runFailover(ctx, c, t, s.phase)
	}
	return runSwitchover(ctx, c, t, s.phase)
}
