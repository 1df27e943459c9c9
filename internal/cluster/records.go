package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrLocked is returned (wrapped) by TryLock when another holder has the
// lock.
var ErrLocked = errors.New("held by another node")

// TryLock takes the lock key for at most ttl if nobody holds it: a holder
// that dies without releasing it loses it then. It returns ErrLocked when
// somebody holds it, and otherwise a function that releases it early.
// Unlike Lock it never waits, and the lock outlives the holder's session:
// it marks an event (a cron firing) as taken for its whole window. The
// release waits at most opTimeout: without a quorum the lease expires by
// itself, and a node that stops must not wait for one.
func TryLock(ctx context.Context, client *clientv3.Client, prefix, key, holder string, ttl time.Duration) (func(context.Context) error, error) {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	lease, created, _, err := putIfAbsent(ctx, client, string(keys)+leasesDir+key, holder, ttl)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if !created {
		client.Revoke(ctx, lease) // best effort: it expires by itself
		return nil, fmt.Errorf("lock %s: %w", key, ErrLocked)
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		if _, err := client.Revoke(ctx, lease); err != nil {
			return fmt.Errorf("unlock %s: %w", key, err)
		}
		return nil
	}, nil
}

// PutRecord stores value as records/<kind>/<id>: small state one node
// publishes for the others (an uptime check's verdict). Readers judge
// freshness themselves; nothing expires.
func PutRecord(ctx context.Context, client *clientv3.Client, prefix, kind, id string, value []byte) error {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	if _, err := client.Put(ctx, string(keys)+recordsDir+kind+"/"+id, string(value)); err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	return nil
}

// Records returns every record of kind, by id.
func Records(ctx context.Context, client *clientv3.Client, prefix, kind string) (map[string][]byte, error) {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	dir := string(keys) + recordsDir + kind + "/"
	resp, err := client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), dir)] = kv.Value
	}
	return out, nil
}
