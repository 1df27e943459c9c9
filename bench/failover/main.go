// Command failover measures PostgreSQL failover with tandem beside
// Patroni, on the same machine, under the same write load, in one run:
// the time from a SIGKILL of the primary's whole node to the first
// acknowledged write on the new primary, the acknowledged writes lost,
// the pause of a planned switchover, and the time the old primary takes
// to stream again as a standby.
//
//	go run ./bench/failover                          # builds tandem; 5 rounds
//	go run ./bench/failover -rounds 7 -setups tandem,patroni-fast
//
// tandem runs as three `tandem up` nodes on 127.0.0.1, .2 and .3 (zones
// a, b, c; one etcd member each) with the database on the first two;
// Patroni 3.0.2 from Debian as the anchor harness ran it: one etcd and
// two nodes on 127.0.0.1. Each round starts every setup afresh, in turn.
// The program is also tandem's app (see app.go). Nothing leaves
// loopback; only processes the program started are signalled, by pid.
// It installs nothing: a missing Debian package makes it print the
// apt-get line and exit 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

func main() {
	if os.Getenv(appEnv) == "1" {
		os.Exit(serveApp())
	}
	o, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench failover:", err)
		os.Exit(2)
	}
	host.Main("failover", func(ctx context.Context) error {
		_, err := run(ctx, o, os.Stdout, os.Stderr)
		return err
	})
}

// setup is one system with one configuration.
type setup struct {
	Name   string `json:"name"`
	System string `json:"system"` // tandem or patroni
	Title  string `json:"title"`
	// Patroni's DCS settings, in seconds.
	TTL          int `json:"ttl,omitempty"`
	LoopWait     int `json:"loop_wait,omitempty"`
	RetryTimeout int `json:"retry_timeout,omitempty"`
	// phase spreads the moment of a kill or switchover over the
	// system's own period, so it does not always fall at one point of it.
	phase time.Duration
}

var setups = []setup{
	{Name: "tandem", System: "tandem", Title: "tandem, defaults: synchronous, lease ttl 3s", phase: 3 * time.Second},
	{Name: "patroni-default", System: "patroni", Title: "Patroni 3.0.2, defaults (ttl 30, loop_wait 10, retry_timeout 10), synchronous_mode",
		TTL: 30, LoopWait: 10, RetryTimeout: 10, phase: 10 * time.Second},
	{Name: "patroni-fast", System: "patroni", Title: "Patroni 3.0.2, ttl 10, loop_wait 2, retry_timeout 3, synchronous_mode",
		TTL: 10, LoopWait: 2, RetryTimeout: 3, phase: 2 * time.Second},
}

type options struct {
	rounds    int
	setups    []setup
	scenarios []string
	tandem    string // binary; "" builds ./cmd/tandem
	out       string // directory of failover.md and failover.json
	keep      bool   // keep the work directory
}

func parseOptions(args []string) (options, error) {
	var o options
	var setupList, scenarioList string
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each starts every setup afresh and runs each scenario once")
	fs.StringVar(&setupList, "setups", "tandem,patroni-default,patroni-fast", "setups, in the order each round runs them")
	fs.StringVar(&scenarioList, "scenarios", "failover,switchover", "scenarios, in the order each setup runs them")
	fs.StringVar(&o.tandem, "tandem", "", "tandem binary (default: build ./cmd/tandem from the working directory)")
	fs.StringVar(&o.out, "out", "bench/results", "directory for failover.md and failover.json")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (every cluster's data and logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: must be at least 1", o.rounds)
	}
	for name := range strings.SplitSeq(setupList, ",") {
		i := slices.IndexFunc(setups, func(s setup) bool { return s.Name == name })
		if i < 0 {
			return o, fmt.Errorf("-setups: unknown setup %q (have tandem, patroni-default, patroni-fast)", name)
		}
		o.setups = append(o.setups, setups[i])
	}
	for name := range strings.SplitSeq(scenarioList, ",") {
		if name != scenarioFailover && name != scenarioSwitchover {
			return o, fmt.Errorf("-scenarios: unknown scenario %q (have failover, switchover)", name)
		}
		o.scenarios = append(o.scenarios, name)
	}
	return o, nil
}

// run is the whole benchmark; it writes the report to o.out and its
// markdown to stdout, progress to logw. Every process it started is
// stopped before it returns, whatever happened.
func run(ctx context.Context, o options, stdout, logw io.Writer) (*Report, error) {
	bins, err := locate(o.setups)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-bench-failover-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL runs as the postgres user: it must reach its directories.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	kept := o.keep
	defer func() {
		if kept {
			fmt.Fprintf(logw, "files kept in %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	r, err := newRunner(ctx, o, bins, dir, logw)
	if err != nil {
		return nil, err
	}
	rep, err := r.run(ctx)
	kept = kept || r.kept
	if err != nil {
		return nil, err
	}
	if err := rep.Write(o.out); err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, rep.Markdown())
	return rep, nil
}
