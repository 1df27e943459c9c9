package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file is the cluster's method API: the other parts of a node take
// what they need of etcd through these methods (and the types they
// return), never through an etcd client of their own.

// ErrUnavailable marks a call the control plane could not answer: etcd
// has no quorum, or did not answer within CallTimeout. The data plane
// keeps serving; the caller should retry later. Errors of the methods
// below that come from etcd not answering wrap it.
var ErrUnavailable = errors.New("control plane unavailable")

// CallTimeout bounds one call of this API made on behalf of a request
// (publishing a purge, taking a lock, creating a token) when the caller's
// context allows longer: without quorum etcd would otherwise hold the
// caller until its own deadline.
const CallTimeout = 3 * time.Second

// bound returns ctx limited to CallTimeout.
func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, CallTimeout)
}

// unavailable marks err as ErrUnavailable when it says etcd did not
// answer, or refused a write for want of space; other errors are
// returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace) {
		return fmt.Errorf("%w: etcd's database reached its quota (NOSPACE alarm): %w", ErrUnavailable, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotOpen) || errors.Is(err, ErrNoQuorum) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s, ok := status.FromError(err); ok && (s.Code() == codes.Unavailable || s.Code() == codes.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// RequireQuorum refuses a change while the control plane cannot take it,
// at once rather than after a timeout: while DataDir is below its floor
// (the error then matches ErrNoSpace too), or while etcd has no quorum —
// a node cut off from the others must not change what they cannot see.
// The error wraps ErrUnavailable and says what op was refused and why.
func (c *Cluster) RequireQuorum(op string) error {
	if err := c.guard.admit(); err != nil {
		return fmt.Errorf("%s: %w; the edge keeps serving, but nothing can change until space is freed", op, err)
	}
	h := c.Health()
	if h.Alarm != "" {
		return fmt.Errorf("%s: %w: %s", op, ErrUnavailable, h.Alarm)
	}
	if !h.Quorum {
		why := h.Err
		if why == "" {
			why = "not yet known"
		}
		return fmt.Errorf("%s: %w: etcd has no quorum (%s); the edge keeps serving, but nothing can change until quorum returns", op, ErrUnavailable, why)
	}
	return nil
}

// The parts below may be built before Open; they use the cluster's
// client from Open on.

// Registry returns the registry that keeps self and its instances
// published. Its Run needs the cluster open.
func (c *Cluster) Registry(self NodeInfo) *Registry {
	return NewRegistry(RegistryOptions{Client: c.etcd, Prefix: c.prefix, Self: self, Logger: c.log})
}

// Viewer returns a viewer of every node's registration. Its Run needs
// the cluster open; before that it sees no node.
func (c *Cluster) Viewer() *Viewer {
	return NewViewer(ViewerOptions{Client: c.etcd, Prefix: c.prefix, Logger: c.log})
}

// PurgeLog returns the cluster's purge log as node sees it; cursorFile
// keeps how far node has applied it across restarts.
func (c *Cluster) PurgeLog(node, cursorFile string) *PurgeLog {
	return NewPurgeLog(PurgeLogOptions{Client: c.etcd, Prefix: c.prefix, Node: node, CursorFile: cursorFile, Logger: c.log})
}

// TokenRecords returns the admin API's token records.
func (c *Cluster) TokenRecords() (*TokenRecords, error) {
	return NewTokenRecords(TokenRecordsOptions{Client: c.etcd, Prefix: c.prefix})
}

// etcd returns the client, nil before Open.
func (c *Cluster) etcd() *clientv3.Client { return c.client }

// Lock is a cluster-wide lock held by this node (TryLock).
type Lock struct {
	name    string
	mu      *concurrency.Mutex
	session *concurrency.Session
}

// Lost is closed when the lock is no longer held: its lease ended
// because this node could not renew it (etcd unreachable) or the lock
// was released.
func (l *Lock) Lost() <-chan struct{} { return l.session.Done() }

// Unlock releases the lock. If etcd cannot be told, the lock's lease
// ends it soon after.
func (l *Lock) Unlock(ctx context.Context) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	err := l.mu.Unlock(ctx)
	if cerr := closeSession(l.session); err == nil {
		err = cerr
	}
	if err != nil {
		return unavailable(fmt.Errorf("unlock %s: %w", l.name, err))
	}
	return nil
}

// TryLock takes the cluster-wide lock name if nobody holds it; it never
// waits. holder says who takes it and for what; a caller that finds it
// held gets a *LockedError naming the holder (it matches ErrLocked). The
// lock lasts until Unlock, or lockTTL after this node crashes or loses
// etcd; Lost tells when that happened.
func (c *Cluster) TryLock(ctx context.Context, name, holder string) (*Lock, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	mu, session, err := tryLockAs(ctx, c.client, c.prefix, name, holder)
	if err != nil {
		return nil, unavailable(err)
	}
	return &Lock{name: name, mu: mu, session: session}, nil
}

// TryLockFor marks key as taken by holder for ttl if nobody has; it never
// waits and the mark outlives this node: it reserves an event (a cron
// firing) for its whole window. It returns ErrLocked (wrapped) when the
// key is taken, and otherwise a function that releases it early.
func (c *Cluster) TryLockFor(ctx context.Context, key, holder string, ttl time.Duration) (func(context.Context) error, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	release, err := TryLock(ctx, c.client, c.prefix, key, holder, ttl)
	if err != nil {
		return nil, unavailable(err)
	}
	return func(ctx context.Context) error {
		ctx, cancel := bound(ctx)
		defer cancel()
		return unavailable(release(ctx))
	}, nil
}

// PutRecord stores value as the record kind/id: small state one node
// publishes for the others. Nothing expires.
func (c *Cluster) PutRecord(ctx context.Context, kind, id string, value []byte) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	return unavailable(PutRecord(ctx, c.client, c.prefix, kind, id, value))
}

// Record returns the record kind/id; ErrNoRecord if there is none.
func (c *Cluster) Record(ctx context.Context, kind, id string) ([]byte, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return nil, unavailable(fmt.Errorf("get record %s/%s: %w", kind, id, ErrNotOpen))
	}
	resp, err := c.client.Get(ctx, c.prefix+recordsDir+kind+"/"+id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("get record %s/%s: %w", kind, id, err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("get record %s/%s: %w", kind, id, ErrNoRecord)
	}
	return resp.Kvs[0].Value, nil
}

// Records returns every record of kind, by id.
func (c *Cluster) Records(ctx context.Context, kind string) (map[string][]byte, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	recs, err := Records(ctx, c.client, c.prefix, kind)
	return recs, unavailable(err)
}

// WatchRecords returns a channel that receives a value, at most one
// pending, whenever a record of kind may have changed: once the watch is
// in place (so a reader reads the records it may have missed before),
// after a change, and after the watch had to start again (etcd was
// unreachable, or its history was compacted). Readers read the records
// again. The channel is closed once ctx ends.
func (c *Cluster) WatchRecords(ctx context.Context, kind string) <-chan struct{} {
	return c.watchPrefix(ctx, c.prefix+recordsDir+kind+"/")
}

// WatchNodeRecords is WatchRecords for every node's records.
func (c *Cluster) WatchNodeRecords(ctx context.Context) <-chan struct{} {
	return c.watchPrefix(ctx, c.prefix+nodeRecsDir)
}

// watchPrefix notifies of changes below dir, as WatchRecords says.
func (c *Cluster) watchPrefix(ctx context.Context, dir string) <-chan struct{} {
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			wch := c.client.Watch(clientv3.WithRequireLeader(ctx), dir, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			for resp := range wch {
				if resp.Err() != nil {
					break
				}
				if resp.Created || len(resp.Events) > 0 {
					notify() // in place (changes may have been missed before), or changed
				}
			}
			if sleepCtx(ctx, watchRetryDelay) != nil {
				return
			}
		}
	}()
	return out
}

// watchRetryDelay is how long WatchRecords waits before watching again.
const watchRetryDelay = time.Second

// Members lists the cluster's etcd members; see members for what it asks of each.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	ms, err := c.members(ctx)
	return ms, unavailable(err)
}

// RemoveMember takes the member called name out of the cluster; see
// removeMember.
func (c *Cluster) RemoveMember(ctx context.Context, name string) error {
	return unavailable(c.removeMember(ctx, name))
}

// CreateJoinToken creates a token another node joins with, valid for
// ttl; see createJoinToken.
func (c *Cluster) CreateJoinToken(ctx context.Context, ttl time.Duration) (string, error) {
	tok, err := c.createJoinToken(ctx, ttl)
	return tok, unavailable(err)
}

// PutNodeRecord stores value as node's record kind/id: state of a node
// others read (the release it runs), kept until the node is removed from
// the cluster, so that it is known while the node is down. A node writes
// its own records.
func (c *Cluster) PutNodeRecord(ctx context.Context, node, kind, id string, value []byte) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return unavailable(fmt.Errorf("put node record %s/%s: %w", kind, id, ErrNotOpen))
	}
	if err := checkNodeName(node); err != nil {
		return fmt.Errorf("put node record %s/%s: %w", kind, id, err)
	}
	key := keyspace(c.prefix).nodeRecords(node) + kind + "/" + id
	if _, err := c.client.Put(ctx, key, string(value)); err != nil {
		return unavailable(fmt.Errorf("put node record %s/%s: %w", kind, id, err))
	}
	return nil
}

// NodeRecords returns every node's record kind/id, by node.
func (c *Cluster) NodeRecords(ctx context.Context, kind, id string) (map[string][]byte, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return nil, unavailable(fmt.Errorf("list node records %s/%s: %w", kind, id, ErrNotOpen))
	}
	dir := c.prefix + nodeRecsDir
	resp, err := c.client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable(fmt.Errorf("list node records %s/%s: %w", kind, id, err))
	}
	out := make(map[string][]byte)
	suffix := "/" + kind + "/" + id
	for _, kv := range resp.Kvs {
		node, ok := strings.CutSuffix(strings.TrimPrefix(string(kv.Key), dir), suffix)
		if ok && node != "" && !strings.Contains(node, "/") {
			out[node] = kv.Value
		}
	}
	return out, nil
}
