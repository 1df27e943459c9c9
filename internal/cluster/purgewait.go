package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// NotAppliedError is returned by WaitApplied when ctx ended before every
// node acknowledged the event.
type NotAppliedError struct {
	Rev   int64    // the event's revision
	Nodes []string // the nodes that had not acknowledged it, sorted
	Err   error    // why waiting stopped: ctx's error
}

func (e *NotAppliedError) Error() string {
	return fmt.Sprintf("wait for purge %d: not applied at %s: %v", e.Rev, strings.Join(e.Nodes, ", "), e.Err)
}

func (e *NotAppliedError) Unwrap() error { return e.Err }

// WaitApplied blocks until every node in nodes has applied the event
// published at revision rev — its ack under purge-acks/ is at least rev —
// or ctx ends, when it returns a *NotAppliedError naming the nodes that
// had not. A node acknowledges only while its Follow runs, its own events
// included. It watches the acks rather than polling; on a watch failure
// it reads them again.
func (p *PurgeLog) WaitApplied(ctx context.Context, rev int64, nodes []string) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("wait for purge %d: %w", rev, err)
	}
	pending := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		pending[n] = true
	}
	var delay retryDelay
	for len(pending) > 0 {
		err := p.waitAcks(ctx, rev, pending)
		if err == nil || ctx.Err() != nil {
			break
		}
		p.log.Debug("purge acks: watch failed; reading again", "err", err)
		if !delay.wait(ctx) {
			break
		}
	}
	if len(pending) == 0 {
		return nil
	}
	left := make([]string, 0, len(pending))
	for n := range pending {
		left = append(left, n)
	}
	slices.Sort(left)
	return &NotAppliedError{Rev: rev, Nodes: left, Err: ctx.Err()}
}

// waitAcks reads the acks and watches them until no node is pending. It
// removes from pending each node whose ack reaches rev.
func (p *PurgeLog) waitAcks(ctx context.Context, rev int64, pending map[string]bool) error {
	resp, err := p.opts.Client().Get(ctx, p.keys.purgeAcks(), clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("read purge acks: %w", err)
	}
	for _, kv := range resp.Kvs {
		p.markAck(kv, rev, pending)
	}
	if len(pending) == 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := p.opts.Client().Watch(wctx, p.keys.purgeAcks(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch purge acks: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.Event_PUT {
				p.markAck(ev.Kv, rev, pending)
			}
		}
		if len(pending) == 0 {
			return nil
		}
	}
	return errors.New("watch purge acks: closed")
}

// markAck removes the node of ack kv from pending if it acknowledged rev.
func (p *PurgeLog) markAck(kv *mvccpb.KeyValue, rev int64, pending map[string]bool) {
	node, ok := strings.CutPrefix(string(kv.Key), p.keys.purgeAcks())
	if !ok || !pending[node] {
		return
	}
	acked, err := strconv.ParseInt(string(kv.Value), 10, 64)
	if err != nil {
		p.log.Warn("purge log: bad ack", "key", string(kv.Key), "err", err)
		return
	}
	if acked >= rev {
		delete(pending, node)
	}
}
