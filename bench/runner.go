package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Runner runs every selected scenario against every selected peer for a
// number of rounds, interleaving the peers (A B C, A B C, ...) so that a
// slow drift of the machine spreads over all of them.
type Runner struct {
	Peers     []PeerSetup
	Scenarios []Scenario
	Rounds    int
	Measurer  *Measurer
	Procs     *Procs
	Dir       string // temp dir; each peer start gets a fresh subdirectory
	Origin    string // address of the shared origin (for all but tandem)
	OriginBin string
	Log       io.Writer // progress lines
}

// PeerSetup is a peer with its executable and loopback addresses.
type PeerSetup struct {
	Peer    Peer
	Bin     string
	Listen  string
	Admin   string // tandem's admin API
	Cluster [3]int // tandem's etcd peer, etcd client and node-to-node ports
	Version string
}

// cacheChecker is a peer whose build under test may lack a cache.
type cacheChecker interface {
	CheckCache(ctx context.Context, in *Instance) error
}

// Run returns one Result per scenario and peer, in scenario order. It
// stops early only when ctx ends; a peer that fails to start or a run that
// fails is recorded in its Result and the others go on.
func (r *Runner) Run(ctx context.Context) ([]*Result, error) {
	results := make(map[[2]string]*Result)
	var order []*Result
	for _, sc := range r.Scenarios {
		for _, ps := range r.Peers {
			res := &Result{Scenario: sc.Name, Peer: ps.Peer.Name(), Mode: sc.Mode}
			results[[2]string{sc.Name, ps.Peer.Name()}] = res
			order = append(order, res)
		}
	}
	for round := 1; round <= r.Rounds; round++ {
		for _, ps := range r.Peers {
			for _, mode := range []Mode{ModeProxy, ModeCache} {
				var scs []Scenario
				var rs []*Result
				for _, sc := range r.Scenarios {
					if res := results[[2]string{sc.Name, ps.Peer.Name()}]; sc.Mode == mode && res.Status != StatusNA {
						scs, rs = append(scs, sc), append(rs, res)
					}
				}
				if len(scs) == 0 {
					continue
				}
				if err := r.session(ctx, ps, mode, round, scs, rs); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, res := range order {
		res.finish()
	}
	return order, nil
}

// session starts ps in mode, runs scs (whose results are rs) and stops it.
// It returns an error only when ctx ended.
func (r *Runner) session(ctx context.Context, ps PeerSetup, mode Mode, round int, scs []Scenario, rs []*Result) error {
	markAll := func(status Status, err error) {
		for _, res := range rs {
			if status == StatusNA {
				res.Status, res.Reason = StatusNA, err.Error()
			} else {
				res.addError(fmt.Errorf("round %d: %w", round, err))
			}
		}
	}
	if ok, reason := ps.Peer.Supports(mode); !ok {
		markAll(StatusNA, errors.New(reason))
		return nil
	}
	dir, err := os.MkdirTemp(r.Dir, fmt.Sprintf("%s-%s-%d-", ps.Peer.Name(), mode, round))
	if err != nil {
		return fmt.Errorf("peer dir: %w", err)
	}
	defer os.RemoveAll(dir)
	w := &Workspace{Procs: r.Procs, Dir: dir, Bin: ps.Bin, Listen: ps.Listen, Admin: ps.Admin, Cluster: ps.Cluster, Origin: r.Origin, OriginBin: r.OriginBin}
	in, err := ps.Peer.Start(ctx, w, mode)
	if err != nil {
		markAll(StatusError, err)
		r.logf("round %d %s (%s): %v", round, ps.Peer.Name(), mode, err)
		return ctx.Err()
	}
	defer in.Stop(r.Procs)
	idle, err := in.Tree.Snapshot()
	if err != nil {
		markAll(StatusError, err)
		return ctx.Err()
	}
	if mode == ModeCache {
		if err := r.prepareCache(ctx, in); errors.Is(err, ErrCacheNotWired) {
			markAll(StatusNA, err)
			r.logf("%s: cache scenarios n/a (%v)", ps.Peer.Name(), err)
			return nil
		} else if err != nil {
			markAll(StatusError, err)
			return ctx.Err()
		}
	}
	for i, sc := range scs {
		s, err := r.Measurer.Measure(ctx, in, sc, round, idle.RSS())
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", ps.Peer.Name(), sc.Name, ctx.Err())
		}
		if err != nil {
			rs[i].addError(fmt.Errorf("round %d: %w", round, err))
			r.logf("round %d %-8s %-10s error: %v", round, ps.Peer.Name(), sc.Name, err)
			continue
		}
		rs[i].Samples = append(rs[i].Samples, s)
		r.logf("round %d %-8s %-10s %8.0f req/s  p50 %-8s p99 %-8s cpu %5.1f µs/req  rss %s→%s  origin %.2f  errors %d",
			round, ps.Peer.Name(), sc.Name, s.RPS, s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond),
			float64(s.CPUPerReq)/1e3, mib(s.IdleRSS), mib(s.PeakRSS), s.OriginShare, s.Errors)
	}
	return nil
}

// prepareCache checks that the peer's cache exists (tandem) and warms it.
func (r *Runner) prepareCache(ctx context.Context, in *Instance) error {
	if cc, ok := in.Peer.(cacheChecker); ok {
		if err := cc.CheckCache(ctx, in); err != nil {
			return err
		}
	}
	return r.Measurer.Warm(ctx, in)
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// mib formats bytes as MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
