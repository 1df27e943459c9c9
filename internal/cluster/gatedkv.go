package cluster

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// gate makes cli ask admit before every write that adds to etcd — a put,
// a transaction that puts, a lease grant — so that no part of the node,
// whichever way it reaches etcd (records, registry, purge log, locks),
// writes while DataDir is below its floor. Reads, deletes, lease
// renewals and revocations go through: they free space or cost none,
// and etcd itself allows them when out of space.
func gate(cli *clientv3.Client, admit func() error) {
	cli.KV = gatedKV{KV: cli.KV, admit: admit}
	cli.Lease = gatedLease{Lease: cli.Lease, admit: admit}
}

// gatedKV is a KV that refuses writes admit refuses.
type gatedKV struct {
	clientv3.KV
	admit func() error
}

func (kv gatedKV) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	if err := kv.admit(); err != nil {
		return nil, err
	}
	return kv.KV.Put(ctx, key, val, opts...)
}

func (kv gatedKV) Do(ctx context.Context, op clientv3.Op) (clientv3.OpResponse, error) {
	if writes(op) {
		if err := kv.admit(); err != nil {
			return clientv3.OpResponse{}, err
		}
	}
	return kv.KV.Do(ctx, op)
}

func (kv gatedKV) Txn(ctx context.Context) clientv3.Txn {
	return &gatedTxn{Txn: kv.KV.Txn(ctx), admit: kv.admit}
}

// gatedTxn is a transaction that asks admit on Commit if it may put.
type gatedTxn struct {
	clientv3.Txn
	admit  func() error
	writes bool // a Then or Else branch puts
}

func (t *gatedTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.Txn = t.Txn.If(cs...)
	return t
}

func (t *gatedTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.writes = t.writes || anyWrites(ops)
	t.Txn = t.Txn.Then(ops...)
	return t
}

func (t *gatedTxn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.writes = t.writes || anyWrites(ops)
	t.Txn = t.Txn.Else(ops...)
	return t
}

func (t *gatedTxn) Commit() (*clientv3.TxnResponse, error) {
	if t.writes {
		if err := t.admit(); err != nil {
			return nil, err
		}
	}
	return t.Txn.Commit()
}

// writes reports whether op puts, itself or in a nested transaction.
func writes(op clientv3.Op) bool {
	if op.IsPut() {
		return true
	}
	if op.IsTxn() {
		_, then, els := op.Txn()
		return anyWrites(then) || anyWrites(els)
	}
	return false
}

func anyWrites(ops []clientv3.Op) bool {
	for _, op := range ops {
		if writes(op) {
			return true
		}
	}
	return false
}

// gatedLease is a Lease that refuses grants admit refuses.
type gatedLease struct {
	clientv3.Lease
	admit func() error
}

func (l gatedLease) Grant(ctx context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	if err := l.admit(); err != nil {
		return nil, err
	}
	return l.Lease.Grant(ctx, ttl)
}
