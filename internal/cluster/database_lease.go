package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Campaign takes the leader key if it is free, under a new lease of ttl,
// holding leader. With a sync value it also requires the sync key to be at
// syncRev (0: absent) and replaces it, in the same transaction, so that
// the sync key always names the current leader. A pending switchover
// request is deleted with it. It returns the lease, or ErrConflict when
// the key is held or the sync key changed. The lease cannot expire before
// ttl after the call was made.
func (s *DatabaseStore) Campaign(ctx context.Context, ttl time.Duration, leader []byte, syncRev int64, sync []byte) (int64, error) {
	g, err := s.client.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, fmt.Errorf("campaign: grant lease: %w", err)
	}
	conds := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.dir+dbLeader), "=", 0)}
	ops := []clientv3.Op{
		clientv3.OpPut(s.dir+dbLeader, string(leader), clientv3.WithLease(g.ID)),
		clientv3.OpDelete(s.dir + dbSwitchover),
	}
	if sync != nil {
		conds = append(conds, clientv3.Compare(clientv3.ModRevision(s.dir+dbSync), "=", syncRev))
		ops = append(ops, clientv3.OpPut(s.dir+dbSync, string(sync)))
	}
	resp, err := s.client.Txn(ctx).If(conds...).Then(ops...).Commit()
	if err == nil && !resp.Succeeded {
		err = ErrConflict
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		s.client.Revoke(rctx, g.ID) // best effort: it expires by itself
		return 0, fmt.Errorf("campaign: %w", err)
	}
	return int64(g.ID), nil
}

// Renew renews a lease once. It returns ErrLeaseLost when the lease no
// longer exists.
func (s *DatabaseStore) Renew(ctx context.Context, lease int64) error {
	if _, err := s.client.KeepAliveOnce(ctx, clientv3.LeaseID(lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = ErrLeaseLost
		}
		return fmt.Errorf("renew lease %x: %w", lease, err)
	}
	return nil
}

// Resign revokes a lease, deleting the leader key if it lives under it.
func (s *DatabaseStore) Resign(ctx context.Context, lease int64) error {
	if _, err := s.client.Revoke(ctx, clientv3.LeaseID(lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("resign lease %x: %w", lease, err)
	}
	return nil
}

// PutSync replaces the sync key if it is still at rev and the leader key
// still lives under lease: only the current leader changes it. It returns
// ErrConflict otherwise.
func (s *DatabaseStore) PutSync(ctx context.Context, lease int64, value []byte, rev int64) error {
	resp, err := s.client.Txn(ctx).If(
		clientv3.Compare(clientv3.LeaseValue(s.dir+dbLeader), "=", clientv3.LeaseID(lease)),
		clientv3.Compare(clientv3.ModRevision(s.dir+dbSync), "=", rev),
	).Then(clientv3.OpPut(s.dir+dbSync, string(value))).Commit()
	if err == nil && !resp.Succeeded {
		err = ErrConflict
	}
	if err != nil {
		return fmt.Errorf("put sync key: %w", err)
	}
	return nil
}

// ClaimInitialize creates the initialize key holding value, under the
// member lease, if nobody has: the one that does bootstraps the cluster.
// A claimer that dies before FinishInitialize loses the claim with its
// lease. It reports whether this call created the key.
func (s *DatabaseStore) ClaimInitialize(ctx context.Context, value []byte, ttl time.Duration) (bool, error) {
	lease, err := s.keepMemberLease(ctx, ttl)
	if err != nil {
		return false, fmt.Errorf("claim initialize key: %w", err)
	}
	key := s.dir + dbInitialize
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("claim initialize key: %w", err)
	}
	return resp.Succeeded, nil
}

// FinishInitialize makes the initialize key permanent with value (the
// system identifier), if the leader key lives under lease.
func (s *DatabaseStore) FinishInitialize(ctx context.Context, lease int64, value []byte) error {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(s.dir+dbLeader), "=", clientv3.LeaseID(lease))).
		Then(clientv3.OpPut(s.dir+dbInitialize, string(value))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = ErrConflict
	}
	if err != nil {
		return fmt.Errorf("finish initialize key: %w", err)
	}
	return nil
}

// PutMember publishes member's record under the member lease of ttl,
// granting a new lease when the old one is gone and renewing it when a
// third of ttl passed since: calling it more often than that keeps the
// record alive.
func (s *DatabaseStore) PutMember(ctx context.Context, member string, value []byte, ttl time.Duration) error {
	if err := checkNodeName(member); err != nil {
		return fmt.Errorf("put member record: %w", err)
	}
	for range 2 {
		lease, err := s.keepMemberLease(ctx, ttl)
		if err != nil {
			return fmt.Errorf("put member record %s: %w", member, err)
		}
		_, err = s.client.Put(ctx, s.dir+dbMembers+member, string(value), clientv3.WithLease(lease))
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("put member record %s: %w", member, err)
		}
		s.dropMemberLease(lease)
	}
	return fmt.Errorf("put member record %s: %w", member, ErrLeaseLost)
}

// keepMemberLease returns the member lease, granting or renewing it as
// needed.
func (s *DatabaseStore) keepMemberLease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	s.mu.Lock()
	lease, kept := s.memberLease, s.memberKept
	s.mu.Unlock()
	now := time.Now()
	if lease != 0 && now.Sub(kept) < ttl/3 {
		return lease, nil
	}
	if lease != 0 {
		_, err := s.client.KeepAliveOnce(ctx, lease)
		if err == nil {
			s.setMemberLease(lease, now)
			return lease, nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, fmt.Errorf("renew member lease: %w", err)
		}
	}
	g, err := s.client.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, fmt.Errorf("grant member lease: %w", err)
	}
	s.setMemberLease(g.ID, now)
	return g.ID, nil
}

func (s *DatabaseStore) setMemberLease(lease clientv3.LeaseID, at time.Time) {
	s.mu.Lock()
	s.memberLease, s.memberKept = lease, at
	s.mu.Unlock()
}

func (s *DatabaseStore) dropMemberLease(lease clientv3.LeaseID) {
	s.mu.Lock()
	if s.memberLease == lease {
		s.memberLease = 0
	}
	s.mu.Unlock()
}

// PutSwitchover stores a switchover request if the key is at rev (0:
// absent); ErrConflict otherwise.
func (s *DatabaseStore) PutSwitchover(ctx context.Context, value []byte, rev int64) error {
	key := s.dir + dbSwitchover
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(value))).Commit()
	if err == nil && !resp.Succeeded {
		err = ErrConflict
	}
	if err != nil {
		return fmt.Errorf("put switchover request: %w", err)
	}
	return nil
}

// DeleteSwitchover deletes the switchover request if it is at rev.
func (s *DatabaseStore) DeleteSwitchover(ctx context.Context, rev int64) error {
	key := s.dir + dbSwitchover
	if _, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit(); err != nil {
		return fmt.Errorf("delete switchover request: %w", err)
	}
	return nil
}

// Credentials returns the database's stored credentials, storing
// generated first if there are none: of members starting together, the
// first to store wins and the others get its.
func (s *DatabaseStore) Credentials(ctx context.Context, generated []byte) ([]byte, error) {
	key := s.dir + dbCredentials
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(generated))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, fmt.Errorf("database credentials: %w", err)
	}
	if resp.Succeeded {
		return generated, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil, fmt.Errorf("database credentials: %w", ErrConflict)
	}
	return kvs[0].Value, nil
}
