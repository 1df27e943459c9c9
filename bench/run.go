package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// run is the whole benchmark: check what is installed, build tandem and
// the origin, start the shared origin, run the rounds, write the report.
// Every child process is stopped and the temp dir removed before it
// returns, whatever happened.
func run(ctx context.Context, o Options, stdout, logw io.Writer) (*Report, error) {
	if o.Smoke {
		o = o.smoke()
	}
	root := o.Dir
	if root == "" {
		var err error
		if root, err = findModuleRoot("."); err != nil {
			return nil, err
		}
	}
	peers, err := selectPeers(o.Peers)
	if err != nil {
		return nil, err
	}
	scs, err := selectScenarios(o.Scenarios)
	if err != nil {
		return nil, err
	}
	if o.Smoke {
		scs = scaleForSmoke(scs)
	}
	bins, useWrk, err := locate(peers, o)
	if err != nil {
		return nil, err
	}
	raiseFileLimit(logw)

	tmp, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	procs := &Procs{}
	defer procs.StopAll(5 * time.Second)

	originBin, err := buildBinaries(ctx, root, tmp, peers, bins, logw)
	if err != nil {
		return nil, err
	}
	var loader Loader = GoLoader{}
	if useWrk {
		if loader, err = newWrk(bins["wrk"], procs, tmp); err != nil {
			return nil, err
		}
	}
	ports, err := choosePorts(o.PortBase, len(peers)+5)
	if err != nil {
		return nil, err
	}
	machine := host.Describe()
	setups := peerSetups(ctx, peers, bins, ports, machine.Versions)
	if useWrk {
		machine.Versions["wrk"] = programVersion(ctx, bins["wrk"], "-v")
	}

	origin := loopback(ports[0])
	if needsSharedOrigin(peers) {
		if err := startOrigin(ctx, procs, originBin, origin); err != nil {
			return nil, err
		}
	}
	m := newMeasurer(loader, o.Duration, o.Warmup)
	defer m.Close()
	r := &Runner{Peers: setups, Scenarios: scs, Rounds: o.Rounds, Measurer: m, Procs: procs,
		Dir: tmp, Origin: origin, OriginBin: originBin, Log: logw}
	start := time.Now()
	results, err := r.Run(ctx)
	if err != nil {
		return nil, err
	}
	machine.LoadAvg[1] = host.LoadAvg()
	settings := Settings{Rounds: o.Rounds, Duration: o.Duration, Warmup: o.Warmup, Loader: loader.Name(), Smoke: o.Smoke, Peers: o.Peers}
	rep := newReport(start, machine, settings, scs, results)
	out := o.Out
	if out == "" {
		out = filepath.Join(root, "bench", "results")
	}
	if err := rep.Write(out); err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, rep.Markdown())
	return rep, nil
}

// buildBinaries builds the origin, and tandem when it is a peer (into
// bins["tandem"]), into dir. It returns the origin's path.
func buildBinaries(ctx context.Context, root, dir string, peers []Peer, bins map[string]string, logw io.Writer) (string, error) {
	originBin := filepath.Join(dir, "origin")
	if err := goBuild(ctx, root, "./bench/origin", originBin); err != nil {
		return "", err
	}
	if hasPeer(peers, "tandem") {
		fmt.Fprintf(logw, "bench: building tandem\n")
		bins["tandem"] = filepath.Join(dir, "tandem")
		if err := goBuild(ctx, root, "./cmd/tandem", bins["tandem"]); err != nil {
			return "", err
		}
	}
	return originBin, nil
}

// peerSetups gives each peer its executable and addresses (the origin has
// ports[0], peer i ports[i+1], tandem's admin API the next port and its
// cluster ports the three after) and records each version in versions.
func peerSetups(ctx context.Context, peers []Peer, bins map[string]string, ports []int, versions map[string]string) []PeerSetup {
	setups := make([]PeerSetup, len(peers))
	for i, p := range peers {
		bin := bins[p.Program()]
		setups[i] = PeerSetup{Peer: p, Bin: bin, Listen: loopback(ports[i+1]), Admin: loopback(ports[len(peers)+1]),
			Cluster: [3]int{ports[len(peers)+2], ports[len(peers)+3], ports[len(peers)+4]},
			Version: p.Version(ctx, bin)}
		versions[p.Name()] = setups[i].Version
	}
	return setups
}

// locate finds the peers' programs and wrk. wrk is needed unless the
// built-in loader was asked for, or in a smoke run (which falls back to
// it). It reports whether wrk is used.
func locate(peers []Peer, o Options) (map[string]string, bool, error) {
	var progs []program
	for _, p := range peers {
		if p.Package() != "" {
			progs = append(progs, program{p.Program(), p.Package()})
		}
	}
	_, haveWrk := lookProgram("wrk")
	useWrk := o.Loader == "wrk" || (o.Loader == "auto" && (!o.Smoke || haveWrk))
	if useWrk {
		progs = append(progs, program{"wrk", "wrk"})
	}
	bins, err := locatePrograms(progs)
	return bins, useWrk, err
}

func hasPeer(peers []Peer, name string) bool {
	for _, p := range peers {
		if p.Name() == name {
			return true
		}
	}
	return false
}

func needsSharedOrigin(peers []Peer) bool {
	for _, p := range peers {
		if p.Name() != "tandem" {
			return true
		}
	}
	return false
}

// startOrigin runs the origin on addr for every peer but tandem.
func startOrigin(ctx context.Context, procs *Procs, bin, addr string) error {
	p, err := procs.Start(ProcSpec{Name: "origin", Argv: []string{bin, "-addr", addr}})
	if err != nil {
		return err
	}
	if err := waitReady(ctx, "http://"+addr+"/healthz", p, 10*time.Second); err != nil {
		return fmt.Errorf("start origin: %w", err)
	}
	return nil
}

// choosePorts returns n loopback ports: base, base+1, ... after checking
// that each is free, or n free ports the kernel picks when base is 0.
func choosePorts(base, n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for i := range n {
		addr := loopback(0)
		if base != 0 {
			addr = loopback(base + i)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("port %s is in use (choose another -port-base): %w", addr, err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// raiseFileLimit lifts the soft open-files limit to the hard one, so that
// wrk and the peers can hold 1,000 connections each way. Setting it
// explicitly also makes Go pass the raised limit on to child processes.
func raiseFileLimit(logw io.Writer) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(logw, "bench: read open-files limit: %v\n", err)
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(logw, "bench: raise open-files limit: %v\n", err)
	}
	if lim.Cur < 4096 {
		fmt.Fprintf(logw, "bench: open-files limit is %d; the 1,000-connection scenario may fail\n", lim.Cur)
	}
}
