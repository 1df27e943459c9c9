package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// errNotReplicated means a purge was applied on this node but could not be
// recorded for the others: the control plane did not answer. The client
// should retry; purges are idempotent.
var errNotReplicated = fmt.Errorf("%w: applied here, not recorded for the other nodes (control plane unavailable)", edge.ErrPurgeIncomplete)

// clusterPurger applies a purge to this node's cache, records it in the
// purge log for every other node, and, when asked, waits until every live
// node has applied it.
type clusterPurger struct {
	local localPurger
	n     *Node // its purge log exists once the cluster is open
}

func (p clusterPurger) Purge(ctx context.Context, ev httpcache.Event) (int, error) {
	k, err := p.local.Purge(ctx, ev)
	if err != nil {
		return 0, err
	}
	log := p.n.cl.purges
	if log == nil {
		return k, nil // not open yet: nobody else can have cached anything from here
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return k, fmt.Errorf("purge: encode event: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	rev, err := log.Publish(pctx, b)
	if err != nil {
		return k, fmt.Errorf("%w: %w", errNotReplicated, err)
	}
	if !edge.PurgeWaitAll(ctx) {
		return k, nil
	}
	var nodes []string
	for name := range p.n.cl.view.View().Nodes {
		nodes = append(nodes, name)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := log.WaitApplied(wctx, rev, nodes); err != nil {
		return k, fmt.Errorf("purge applied here, not confirmed everywhere: %w", err)
	}
	return k, nil
}
