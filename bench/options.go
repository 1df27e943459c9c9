package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// Options are the harness's settings, from its flags.
type Options struct {
	Rounds    int
	Duration  time.Duration // each measured run
	Warmup    time.Duration // an unmeasured run before each measured one
	Peers     []string      // names, in the order they are interleaved
	Scenarios string        // comma-separated names, or "all"
	Loader    string        // "auto", "wrk" or "go"
	Out       string        // where latest.json and latest.md go; "" bench/results
	PortBase  int           // origin on PortBase, peers on the next ports; 0: free ports
	Smoke     bool          // tandem only, short runs, few connections
	Dir       string        // the module root; "" found from the working directory
}

// parseOptions reads the command line.
func parseOptions(args []string) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o Options
	var peers string
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every peer once per scenario, interleaved")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured run per scenario (whole seconds for wrk)")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured run before each measured one; 0 for none")
	fs.StringVar(&peers, "peers", strings.Join(peerNames(), ","), "peers to compare, comma-separated")
	fs.StringVar(&o.Scenarios, "scenarios", "all", "scenarios to run, comma-separated: "+scenarioNames())
	fs.StringVar(&o.Loader, "loader", "auto", `load generator: "wrk", "go" (built in, slow) or "auto" (wrk; go in -smoke when wrk is absent)`)
	fs.StringVar(&o.Out, "out", "", "directory for latest.json and latest.md (default bench/results)")
	fs.IntVar(&o.PortBase, "port-base", 18000, "origin on this loopback port, peers on the next ones; 0 picks free ports")
	fs.StringVar(&o.Dir, "root", "", "tandem's module root to build tandem and the origin from (default: found from the working directory)")
	fs.BoolVar(&o.Smoke, "smoke", false, "quick check that the benchmark works: tandem only, 1 round of 1 s")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, p := range strings.Split(peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Peers = append(o.Peers, p)
		}
	}
	return o, o.validate()
}

func (o *Options) validate() error {
	switch {
	case o.Rounds < 1 || o.Rounds > 100:
		return fmt.Errorf("-rounds: must be 1..100")
	case o.Duration < 500*time.Millisecond:
		return fmt.Errorf("-duration: must be at least 500ms")
	case o.Warmup < 0:
		return fmt.Errorf("-warmup: must be >= 0")
	case o.Loader != "auto" && o.Loader != "wrk" && o.Loader != "go":
		return fmt.Errorf("-loader: must be auto, wrk or go")
	case o.PortBase != 0 && (o.PortBase < 1024 || o.PortBase > 65000):
		return fmt.Errorf("-port-base: must be 0 or 1024..65000")
	case len(o.Peers) == 0:
		return fmt.Errorf("-peers: name at least one of %s", strings.Join(peerNames(), ", "))
	}
	if _, err := selectScenarios(o.Scenarios); err != nil {
		return fmt.Errorf("-scenarios: %w", err)
	}
	_, err := selectPeers(o.Peers)
	return err
}

// smoke turns o into the quick CI check: tandem only, one short round,
// free ports.
func (o Options) smoke() Options {
	o.Smoke, o.Peers, o.Rounds, o.PortBase = true, []string{"tandem"}, 1, 0
	o.Duration, o.Warmup = time.Second, 200*time.Millisecond
	return o
}

// scaleForSmoke keeps the smoke run's connection counts small.
func scaleForSmoke(scs []Scenario) []Scenario {
	out := make([]Scenario, len(scs))
	for i, sc := range scs {
		sc.Conns = min(sc.Conns, 16)
		sc.IdleConns = min(sc.IdleConns, 50)
		out[i] = sc
	}
	return out
}

// knownPeers are the peers the harness can run, in interleaving order.
func knownPeers() []Peer {
	return []Peer{Nginx{}, Varnish{}, HAProxy{}, Caddy{}, GoHTTP{}, Tandem{}}
}

func peerNames() []string {
	var names []string
	for _, p := range knownPeers() {
		names = append(names, p.Name())
	}
	return names
}

// selectPeers maps names to peers, in the order given.
func selectPeers(names []string) ([]Peer, error) {
	var out []Peer
	for _, n := range names {
		var found Peer
		for _, p := range knownPeers() {
			if p.Name() == n {
				found = p
			}
		}
		if found == nil {
			return nil, fmt.Errorf("-peers: unknown peer %q (have %s)", n, strings.Join(peerNames(), ", "))
		}
		out = append(out, found)
	}
	return out, nil
}
