package cluster

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// LockedError is returned by TryLockAs when another holder has the lock;
// it matches ErrLocked and names the holder.
type LockedError struct {
	Name   string // the lock
	Holder string // what the holder said of itself; "" if it has not yet
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("lock %s: %s", e.Name, ErrLocked)
	}
	return fmt.Sprintf("lock %s: %s: %s", e.Name, ErrLocked, e.Holder)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// tryLockAs takes the cluster-wide lock name, the same lock waitLock takes,
// if nobody holds it: it never waits. holder (who takes it, for what) is
// stored with the lock, and a caller that finds it held gets a
// *LockedError naming the holder. The lock lasts like waitLock's: until the
// mutex is unlocked and the session closed, or lockTTL after the holder
// crashes or loses etcd (the session's Done channel closes then).
func tryLockAs(ctx context.Context, client *clientv3.Client, prefix, name, holder string) (*concurrency.Mutex, *concurrency.Session, error) {
	if client == nil {
		return nil, nil, fmt.Errorf("lock %s: %w", name, ErrNotOpen)
	}
	keys, err := newKeyspace(prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("lock %s: %w", name, err)
	}
	lease, err := client.Grant(ctx, ttlSeconds(lockTTL))
	if err != nil {
		return nil, nil, fmt.Errorf("lock %s: grant lease: %w", name, err)
	}
	session, err := concurrency.NewSession(client, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttlSeconds(lockTTL))))
	if err != nil {
		return nil, nil, fmt.Errorf("lock %s: session: %w", name, err)
	}
	pfx := keys.lock(name)
	mu := concurrency.NewMutex(session, pfx)
	if err := mu.TryLock(ctx); err != nil {
		if !errors.Is(err, concurrency.ErrLocked) {
			return nil, nil, errors.Join(fmt.Errorf("lock %s: %w", name, err), closeSession(session))
		}
		locked := &LockedError{Name: name}
		if resp, gerr := client.Get(ctx, pfx, clientv3.WithFirstCreate()...); gerr == nil && len(resp.Kvs) > 0 {
			locked.Holder = string(resp.Kvs[0].Value)
		}
		return nil, nil, errors.Join(locked, closeSession(session))
	}
	// The owner key keeps its create revision (its place in the queue)
	// when its value is set.
	if _, err := client.Put(ctx, mu.Key(), holder, clientv3.WithLease(session.Lease())); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("lock %s: name the holder: %w", name, err), closeSession(session))
	}
	return mu, session, nil
}
