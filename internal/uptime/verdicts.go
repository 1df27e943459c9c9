package uptime

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

// Verdicts is where the nodes' verdicts meet: every node publishes its
// own and reads everyone's. MemoryVerdicts serves a single node; a
// cluster keeps them in etcd.
type Verdicts interface {
	// Publish stores v as v.Node's latest verdict on v.Check.
	Publish(ctx context.Context, v Verdict) error
	// All returns the latest verdict of every node on every check.
	All(ctx context.Context) ([]Verdict, error)
}

// Leader says whether this node is the one that sends alerts, so that a
// cluster sends each alert once.
type Leader interface {
	Leader() bool
}

// AlwaysLeader is the Leader of a single node: it sends every alert.
type AlwaysLeader struct{}

// Leader returns true.
func (AlwaysLeader) Leader() bool { return true }

// MemoryVerdicts keeps the verdicts in memory: the Verdicts of a single
// node. The zero value is ready to use.
type MemoryVerdicts struct {
	mu sync.Mutex // guards m
	m  map[[2]string]Verdict
}

var (
	_ Verdicts = (*MemoryVerdicts)(nil)
	_ Leader   = AlwaysLeader{}
)

// Publish implements Verdicts.
func (mv *MemoryVerdicts) Publish(_ context.Context, v Verdict) error {
	mv.mu.Lock()
	defer mv.mu.Unlock()
	if mv.m == nil {
		mv.m = make(map[[2]string]Verdict)
	}
	mv.m[[2]string{v.Check, v.Node}] = v
	return nil
}

// All implements Verdicts; the verdicts are ordered by check, then node.
func (mv *MemoryVerdicts) All(context.Context) ([]Verdict, error) {
	mv.mu.Lock()
	out := make([]Verdict, 0, len(mv.m))
	for _, v := range mv.m {
		out = append(out, v)
	}
	mv.mu.Unlock()
	slices.SortFunc(out, func(a, b Verdict) int {
		return cmp.Or(cmp.Compare(a.Check, b.Check), cmp.Compare(a.Node, b.Node))
	})
	return out, nil
}
