package pgha

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// leaseKeeper renews the leader lease on its own goroutine, so that a slow
// PostgreSQL query never delays a renewal, and records when each
// successful renewal was sent: the lease cannot expire before that + TTL.
type leaseKeeper struct {
	store   Store
	ttl     time.Duration
	every   time.Duration
	clock   func() time.Time
	log     *slog.Logger
	changed func() // called when the lease is lost

	mu    sync.Mutex // guards the fields below
	lease int64
	held  bool
	sent  time.Time
	lost  bool
	// revoke are leases given up, to revoke while they may still exist.
	revoke []given
	kick   chan struct{}
}

type given struct {
	lease int64
	at    time.Time
}

func newLeaseKeeper(store Store, ttl time.Duration, clock func() time.Time, log *slog.Logger, changed func()) *leaseKeeper {
	return &leaseKeeper{store: store, ttl: ttl, every: ttl / 6, clock: clock, log: log, changed: changed, kick: make(chan struct{}, 1)}
}

// state is the lease as the Machine sees it.
func (k *leaseKeeper) state() Lease {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Lease{Held: k.held, RenewSent: k.sent, Lost: k.lost}
}

// id is the held lease, 0 if none.
func (k *leaseKeeper) id() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.held {
		return 0
	}
	return k.lease
}

// hold starts renewing lease, granted by a call sent at sent.
func (k *leaseKeeper) hold(lease int64, sent time.Time) {
	k.mu.Lock()
	k.lease, k.held, k.sent, k.lost = lease, true, sent, false
	k.mu.Unlock()
}

// forget stops renewing the lease; it is revoked in the background if
// the store answers.
func (k *leaseKeeper) forget() {
	k.mu.Lock()
	if k.held {
		k.revoke = append(k.revoke, given{k.lease, k.clock()})
	}
	k.lease, k.held, k.lost = 0, false, false
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// release revokes the lease now, deleting the leader key at once so that
// another member takes over without waiting for the TTL.
func (k *leaseKeeper) release(ctx context.Context) error {
	k.mu.Lock()
	lease, held := k.lease, k.held
	k.lease, k.held, k.lost = 0, false, false
	k.mu.Unlock()
	if !held {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, k.ttl/2)
	defer cancel()
	return k.store.Resign(ctx, lease)
}

// run renews the held lease every TTL/6 until ctx ends.
func (k *leaseKeeper) run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
		}
		k.renew(ctx)
		k.revokeGiven(ctx)
	}
}

func (k *leaseKeeper) renew(ctx context.Context) {
	k.mu.Lock()
	lease, held := k.lease, k.held && !k.lost
	k.mu.Unlock()
	if !held {
		return
	}
	sent := k.clock()
	rctx, cancel := context.WithTimeout(ctx, k.every)
	err := k.store.Renew(rctx, lease)
	cancel()
	k.mu.Lock()
	lost := false
	if k.lease == lease && k.held { // not forgotten or replaced meanwhile
		switch {
		case err == nil:
			k.sent = sent
		case errors.Is(err, cluster.ErrLeaseLost):
			k.lost, lost = true, true
		}
	}
	k.mu.Unlock()
	switch {
	case lost:
		k.log.Warn("leader lease lost", "lease", lease)
		k.changed()
	case err != nil:
		k.log.Debug("leader lease not renewed", "err", err)
	}
}

func (k *leaseKeeper) revokeGiven(ctx context.Context) {
	k.mu.Lock()
	pending := k.revoke
	k.revoke = nil
	k.mu.Unlock()
	var keep []given
	for _, g := range pending {
		if k.clock().Sub(g.at) > k.ttl {
			continue // expired by now
		}
		rctx, cancel := context.WithTimeout(ctx, k.every)
		if err := k.store.Resign(rctx, g.lease); err != nil {
			keep = append(keep, g)
		}
		cancel()
	}
	if len(keep) > 0 && ctx.Err() == nil {
		k.mu.Lock()
		k.revoke = append(k.revoke, keep...)
		k.mu.Unlock()
	}
}
