package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Claim makes node the one node that acts on (name, tick), such as one
// firing of a cron job: every node calls it and exactly one gets true.
// The claim is the key claims/<name>/<tick unix> holding the node's name,
// created only if absent, under a lease of ttl: it must outlive the
// window in which other nodes may still try the same tick (their clocks
// and schedules lag), and then disappears by itself.
//
// A node that claims a tick it already holds (a retry after an
// uncertain failure) gets true again. Ticks are compared at whole
// seconds.
func Claim(ctx context.Context, client *clientv3.Client, prefix, name string, tick time.Time, node string, ttl time.Duration) (bool, error) {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	key := keys.claim(name, tick)
	lease, created, current, err := putIfAbsent(ctx, client, key, node, ttl)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	if created {
		return true, nil
	}
	// Lost (or held already): the new lease holds nothing. Revoking it
	// now spares etcd from tracking it until it expires.
	held := current == node
	if _, err := client.Revoke(ctx, lease); err != nil {
		return held, fmt.Errorf("claim %s: revoke unused lease: %w", key, err)
	}
	return held, nil
}

// putIfAbsent creates key holding value under a new lease of ttl, unless
// the key exists. It returns the lease (the caller revokes it when it
// created nothing), whether it created the key, and otherwise the key's
// current value.
func putIfAbsent(ctx context.Context, client *clientv3.Client, key, value string, ttl time.Duration) (lease clientv3.LeaseID, created bool, current string, err error) {
	g, err := client.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, false, "", fmt.Errorf("grant lease: %w", err)
	}
	resp, err := client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(g.ID))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return g.ID, false, "", err
	}
	if resp.Succeeded {
		return g.ID, true, "", nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		current = string(kvs[0].Value)
	}
	return g.ID, false, current, nil
}

// lockTTL is how long a lock outlives a holder that stopped renewing it
// (crashed, or lost etcd).
const lockTTL = 10 * time.Second

// waitLock takes the cluster-wide lock name, waiting while another holder has
// it, until ctx ends. Unlock releases it; until then a background lease
// keeps it, ending lockTTL after the holder crashes or loses etcd — a
// holder that may run for long must be prepared for that. unlock releases
// the lock and its lease, and is safe to call once.
func waitLock(ctx context.Context, client *clientv3.Client, prefix, name string) (unlock func(context.Context) error, err error) {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// The lease is granted with ctx so that an unreachable etcd does not
	// block past it; the session keeps it alive for the client's lifetime,
	// not ctx's, since the lock outlives the call.
	lease, err := client.Grant(ctx, ttlSeconds(lockTTL))
	if err != nil {
		return nil, fmt.Errorf("lock %s: grant lease: %w", name, err)
	}
	session, err := concurrency.NewSession(client, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttlSeconds(lockTTL))))
	if err != nil {
		return nil, fmt.Errorf("lock %s: session: %w", name, err)
	}
	mu := concurrency.NewMutex(session, keys.lock(name))
	if err := mu.Lock(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("lock %s: %w", name, err), closeSession(session))
	}
	return func(ctx context.Context) error {
		if err := mu.Unlock(ctx); err != nil {
			return errors.Join(fmt.Errorf("unlock %s: %w", name, err), closeSession(session))
		}
		if err := closeSession(session); err != nil {
			return fmt.Errorf("unlock %s: %w", name, err)
		}
		return nil
	}, nil
}

// closeSession ends a lock's session and revokes its lease, which
// releases any lock key still under it.
func closeSession(s *concurrency.Session) error {
	if err := s.Close(); err != nil {
		return fmt.Errorf("close lock session: %w", err)
	}
	return nil
}
