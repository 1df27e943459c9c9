package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of TokenRecords; callers branch on them with errors.Is. Any other
// error means etcd did not answer (no quorum, or the member is down).
var (
	ErrNoRecord     = errors.New("no such record")
	ErrRecordExists = errors.New("record exists")
)

// tokensKind is the records/ kind of the admin API's tokens.
const tokensKind = "tokens"

// Defaults of TokenRecordsOptions.
const (
	defaultTokenCacheFor    = 3 * time.Second
	defaultTokenReadTimeout = time.Second
	tokenUpdateTries        = 3
)

// TokenRecordsOptions configure TokenRecords.
type TokenRecordsOptions struct {
	// Client returns the etcd client; it is called on every operation, so
	// that records made before the cluster is open work once it is. A nil
	// client fails the operation with ErrNotOpen.
	Client func() *clientv3.Client
	// Prefix is the cluster's key prefix, "/tandem/<name>/".
	Prefix string
	// CacheFor is how long a looked-up record is served from memory
	// before Get asks etcd again; 0 means 3s.
	CacheFor time.Duration
	// ReadTimeout bounds one read of Get or List; 0 means 1s.
	ReadTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenRecords keeps the admin API's tokens in etcd, under
// records/tokens/<id>, as opaque values (the admin package's records: a
// hash of each secret, never the secret). Every node of the cluster sees
// the same tokens.
//
// Get is called on every admin request, so it answers from memory for
// CacheFor after each read, and then from the local member's copy (a
// serializable read, which needs no quorum). A record the local copy
// lacks is looked for once more with a linearizable read, so a token just
// made on another node is found. When etcd does not answer at all, Get
// serves the last value it read, however old: an admin who holds a known
// token can still read the state of a node cut off from the cluster.
//
// A revocation (Delete) is seen at once by the node that makes it; other
// nodes see it within CacheFor, or, while cut off from the quorum, once
// they are back. Create, Delete and Update need a quorum.
type TokenRecords struct {
	client   func() *clientv3.Client
	dir      string // prefix of the records' keys
	cacheFor time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu    sync.Mutex // guards cache
	cache map[string]cachedRecord
}

// cachedRecord is a record as last read, and when.
type cachedRecord struct {
	value []byte
	read  time.Time
}

// NewTokenRecords returns the token records of the cluster with o.Prefix.
// It reads nothing.
func NewTokenRecords(o TokenRecordsOptions) (*TokenRecords, error) {
	keys, err := newKeyspace(o.Prefix)
	if err != nil {
		return nil, fmt.Errorf("token records: %w", err)
	}
	if o.Client == nil {
		return nil, errors.New("token records: no client")
	}
	r := &TokenRecords{
		client: o.Client, dir: string(keys) + recordsDir + tokensKind + "/",
		cacheFor: o.CacheFor, timeout: o.ReadTimeout, now: o.Now,
		cache: map[string]cachedRecord{},
	}
	if r.cacheFor <= 0 {
		r.cacheFor = defaultTokenCacheFor
	}
	if r.timeout <= 0 {
		r.timeout = defaultTokenReadTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// key returns the key of record id, which must be a non-empty name
// without "/".
func (r *TokenRecords) key(id string) (string, error) {
	if id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("token record %q: %w", id, ErrNoRecord)
	}
	return r.dir + id, nil
}

// etcd returns the client, or ErrNotOpen.
func (r *TokenRecords) etcd() (*clientv3.Client, error) {
	c := r.client()
	if c == nil {
		return nil, ErrNotOpen
	}
	return c, nil
}

// Create stores value as record id; ErrRecordExists if there is one.
func (r *TokenRecords) Create(ctx context.Context, id string, value []byte) error {
	k, err := r.key(id)
	if err != nil {
		return fmt.Errorf("create token record: %w", err)
	}
	c, err := r.etcd()
	if err != nil {
		return fmt.Errorf("create token record %s: %w", id, err)
	}
	resp, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return fmt.Errorf("create token record %s: %w", id, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("create token record %s: %w", id, ErrRecordExists)
	}
	r.remember(id, value)
	return nil
}

// Delete removes record id; ErrNoRecord if there is none. This node
// forgets it at once.
func (r *TokenRecords) Delete(ctx context.Context, id string) error {
	k, err := r.key(id)
	if err != nil {
		return fmt.Errorf("delete token record: %w", err)
	}
	c, err := r.etcd()
	if err != nil {
		return fmt.Errorf("delete token record %s: %w", id, err)
	}
	resp, err := c.Delete(ctx, k)
	if err != nil {
		return fmt.Errorf("delete token record %s: %w", id, err)
	}
	r.forget(id)
	if resp.Deleted == 0 {
		return fmt.Errorf("delete token record %s: %w", id, ErrNoRecord)
	}
	return nil
}

// Update replaces record id with change(its value) if it still holds that
// value when written, trying again a few times if another node changed it
// meanwhile. change returning false leaves the record as it is. A record
// deleted meanwhile stays deleted: ErrNoRecord.
func (r *TokenRecords) Update(ctx context.Context, id string, change func(old []byte) ([]byte, bool)) error {
	k, err := r.key(id)
	if err != nil {
		return fmt.Errorf("update token record: %w", err)
	}
	c, err := r.etcd()
	if err != nil {
		return fmt.Errorf("update token record %s: %w", id, err)
	}
	for range tokenUpdateTries {
		resp, err := c.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("update token record %s: %w", id, err)
		}
		if len(resp.Kvs) == 0 {
			r.forget(id)
			return fmt.Errorf("update token record %s: %w", id, ErrNoRecord)
		}
		kv := resp.Kvs[0]
		next, ok := change(kv.Value)
		if !ok {
			return nil
		}
		tx, err := c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)).
			Then(clientv3.OpPut(k, string(next))).
			Commit()
		if err != nil {
			return fmt.Errorf("update token record %s: %w", id, err)
		}
		if tx.Succeeded {
			r.remember(id, next)
			return nil
		}
	}
	return fmt.Errorf("update token record %s: changed by others %d times in a row", id, tokenUpdateTries)
}

// Get returns record id: from memory if read within CacheFor, else from
// etcd, else (etcd not answering) as last read. ErrNoRecord if there is
// none.
func (r *TokenRecords) Get(ctx context.Context, id string) ([]byte, error) {
	k, err := r.key(id)
	if err != nil {
		return nil, fmt.Errorf("get token record: %w", err)
	}
	last, known := r.cached(id)
	if known && r.now().Sub(last.read) < r.cacheFor {
		return last.value, nil
	}
	v, err := r.read(ctx, k)
	switch {
	case err == nil:
		r.remember(id, v)
		return v, nil
	case errors.Is(err, ErrNoRecord):
		r.forget(id)
		return nil, fmt.Errorf("get token record %s: %w", id, err)
	case known:
		return last.value, nil // static stability: etcd is away, the record was not revoked here
	}
	return nil, fmt.Errorf("get token record %s: %w", id, err)
}

// read reads key from the local member, and from the quorum if the local
// member does not have it.
func (r *TokenRecords) read(ctx context.Context, key string) ([]byte, error) {
	c, err := r.etcd()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := c.Get(ctx, key, clientv3.WithSerializable())
	if err == nil && len(resp.Kvs) == 0 {
		resp, err = c.Get(ctx, key)
		if err != nil {
			return nil, ErrNoRecord // the local member's answer stands
		}
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNoRecord
	}
	return resp.Kvs[0].Value, nil
}

// List returns every record, by id: as the quorum has them, or, when it
// does not answer in time, as the local member has them.
func (r *TokenRecords) List(ctx context.Context) (map[string][]byte, error) {
	c, err := r.etcd()
	if err != nil {
		return nil, fmt.Errorf("list token records: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := c.Get(lctx, r.dir, clientv3.WithPrefix())
	if err != nil && ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		resp, err = c.Get(sctx, r.dir, clientv3.WithPrefix(), clientv3.WithSerializable())
	}
	if err != nil {
		return nil, fmt.Errorf("list token records: %w", err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), r.dir)] = kv.Value
	}
	return out, nil
}

func (r *TokenRecords) cached(id string) (cachedRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cache[id]
	return c, ok
}

func (r *TokenRecords) remember(id string, v []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache[id] = cachedRecord{value: v, read: r.now()}
}

func (r *TokenRecords) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cache, id)
}
