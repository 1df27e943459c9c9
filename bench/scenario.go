package main

import (
	"fmt"
	"strings"
	"time"
)

// Scenario is one measured workload: a path (or the mix), a mode the peers
// are configured in, and the load generator's fixed shape.
type Scenario struct {
	Name    string // short id used in flags and JSON: "pass-1k"
	Title   string // for the table
	Mode    Mode
	Path    string // the URL path; "" for the mix
	Mix     bool   // 90% hits over mixHotKeys keys, 10% never-seen keys
	Conns   int    // keep-alive connections the load generator keeps busy
	Threads int    // load generator threads (wrk -t)
	// Pause > 0 paces the load: each connection waits this long after a
	// response before it sends the next request, so every peer gets about
	// the same rate (Conns ÷ (Pause + latency)) instead of as many
	// requests as it can answer. Latency compares at the same load only
	// in such a scenario; in the others it mostly measures queueing.
	Pause time.Duration
	// IdleConns > 0: before the load, open this many keep-alive
	// connections, make one request on each, leave them idle and measure
	// the peer's memory per connection.
	IdleConns int
}

// mixHotKeys is how many /mix keys the 90% of hits in the mix spread over.
const mixHotKeys = 100

// allScenarios are run in this order within a peer's start in each mode.
// The 1,000-connection scenario comes first in proxy mode so that its idle
// baseline is the freshly started peer.
func allScenarios() []Scenario {
	return []Scenario{
		{Name: "conns-1000", Title: "1,000 keep-alive connections, pass-through 1 KiB", Mode: ModeProxy, Path: "/pass/1k", Conns: 1000, Threads: 2, IdleConns: 1000},
		{Name: "pass-1k", Title: "pass-through, uncacheable 1 KiB", Mode: ModeProxy, Path: "/pass/1k", Conns: 64, Threads: 2},
		{Name: "pass-1k-paced", Title: "pass-through, uncacheable 1 KiB, paced: the same offered load for every peer", Mode: ModeProxy, Path: "/pass/1k", Conns: 32, Threads: 2, Pause: 8 * time.Millisecond},
		{Name: "hit-1k", Title: "cache hit, 1 KiB", Mode: ModeCache, Path: "/hit/1k", Conns: 64, Threads: 2},
		{Name: "hit-100k", Title: "cache hit, 100 KiB", Mode: ModeCache, Path: "/hit/100k", Conns: 64, Threads: 2},
		{Name: "mix-10", Title: "mix, 10% misses, 1 KiB", Mode: ModeCache, Mix: true, Conns: 64, Threads: 2},
	}
}

// selectScenarios returns the scenarios named in a comma-separated list,
// in run order; "all" or "" selects every one.
func selectScenarios(list string) ([]Scenario, error) {
	scenarios := allScenarios()
	if list == "" || list == "all" {
		return scenarios, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []Scenario
	for _, s := range scenarios {
		if want[s.Name] {
			out = append(out, s)
			delete(want, s.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("unknown scenario %q (have %s)", n, scenarioNames())
	}
	return out, nil
}

func scenarioNames() string {
	var names []string
	for _, s := range allScenarios() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// mixPath is the n-th request path of load worker w in the mix: every
// tenth is a key never asked for before in this run (nonce), the others
// cycle over the hot keys, which are warmed before the run.
func mixPath(nonce string, w, n int) string {
	if n%10 == 0 {
		return fmt.Sprintf("/mix/miss-%s-%d-%d", nonce, w, n)
	}
	return fmt.Sprintf("/mix/%d", n%mixHotKeys)
}
