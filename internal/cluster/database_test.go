package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func newTestDatabaseStore(t *testing.T) *DatabaseStore {
	t.Helper()
	s, err := NewDatabaseStore(startTestEtcd(t), testPrefix, "pg")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDatabaseCampaignIsExclusive(t *testing.T) {
	s := newTestDatabaseStore(t)
	ctx := t.Context()
	lease, err := s.Campaign(ctx, 2*time.Second, []byte("a"), 0, []byte(`{"leader":"a"}`))
	if err != nil {
		t.Fatalf("Campaign(a) = %v", err)
	}
	if _, err := s.Campaign(ctx, 2*time.Second, []byte("b"), 0, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("Campaign(b) while a holds = %v; want ErrConflict", err)
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Leader.Value) != "a" || st.Leader.Lease != lease || string(st.Sync.Value) != `{"leader":"a"}` {
		t.Fatalf("Load = leader %q lease %x sync %q; want a, %x, a's sync", st.Leader.Value, st.Leader.Lease, st.Sync.Value, lease)
	}
	if err := s.Renew(ctx, lease); err != nil {
		t.Fatalf("Renew = %v", err)
	}
	// Only the leader writes the sync key, and only at the revision it read.
	if err := s.PutSync(ctx, lease+1, []byte("x"), st.Sync.Revision); !errors.Is(err, ErrConflict) {
		t.Errorf("PutSync(other lease) = %v; want ErrConflict", err)
	}
	if err := s.PutSync(ctx, lease, []byte("x"), st.Sync.Revision-1); !errors.Is(err, ErrConflict) {
		t.Errorf("PutSync(old revision) = %v; want ErrConflict", err)
	}
	if err := s.PutSync(ctx, lease, []byte(`{"leader":"a","standby":"b"}`), st.Sync.Revision); err != nil {
		t.Errorf("PutSync = %v", err)
	}
	// A candidate that read the sync key before that change may not take over.
	if err := s.Resign(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Campaign(ctx, 2*time.Second, []byte("b"), st.Sync.Revision, []byte(`{"leader":"b"}`)); !errors.Is(err, ErrConflict) {
		t.Errorf("Campaign(b, stale sync revision) = %v; want ErrConflict", err)
	}
	st, _ = s.Load(ctx)
	if _, err := s.Campaign(ctx, 2*time.Second, []byte("b"), st.Sync.Revision, []byte(`{"leader":"b"}`)); err != nil {
		t.Errorf("Campaign(b, current sync revision) = %v", err)
	}
}

func TestDatabaseLeaseExpires(t *testing.T) {
	t.Parallel()
	s := newTestDatabaseStore(t)
	ctx := t.Context()
	lease, err := s.Campaign(ctx, time.Second, []byte("a"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "leader key to expire", func() bool {
		st, err := s.Load(ctx)
		return err == nil && st.Leader.Revision == 0
	})
	if err := s.Renew(ctx, lease); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew(expired) = %v; want ErrLeaseLost", err)
	}
}

func TestDatabaseInitializeAndCredentials(t *testing.T) {
	s := newTestDatabaseStore(t)
	ctx := t.Context()
	won, err := s.ClaimInitialize(ctx, []byte("a"), 2*time.Second)
	if err != nil || !won {
		t.Fatalf("ClaimInitialize(a) = %v, %v; want true", won, err)
	}
	if won, err := s.ClaimInitialize(ctx, []byte("b"), 2*time.Second); err != nil || won {
		t.Fatalf("ClaimInitialize(b) = %v, %v; want false", won, err)
	}
	lease, err := s.Campaign(ctx, 2*time.Second, []byte("a"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishInitialize(ctx, lease+1, []byte("sysid")); !errors.Is(err, ErrConflict) {
		t.Errorf("FinishInitialize(not leader) = %v; want ErrConflict", err)
	}
	if err := s.FinishInitialize(ctx, lease, []byte("sysid")); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Load(ctx)
	if string(st.Initialize.Value) != "sysid" || st.Initialize.Lease != 0 {
		t.Errorf("initialize key = %q under lease %x; want sysid, no lease", st.Initialize.Value, st.Initialize.Lease)
	}
	first, err := s.Credentials(ctx, []byte("one"))
	if err != nil || string(first) != "one" {
		t.Fatalf("Credentials(one) = %q, %v", first, err)
	}
	if again, err := s.Credentials(ctx, []byte("two")); err != nil || string(again) != "one" {
		t.Fatalf("Credentials(two) = %q, %v; want the stored one", again, err)
	}
}

func TestDatabaseMemberRecordsAndWatch(t *testing.T) {
	t.Parallel()
	s := newTestDatabaseStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	var notified atomic.Int32
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func() { notified.Add(1) }) }()
	waitFor(t, 5*time.Second, "watch to notify", func() bool {
		// Writes until the watch (started concurrently) sees one.
		if err := s.PutMember(ctx, "a", []byte(`{"state":"standby"}`), time.Second); err != nil {
			t.Fatal(err)
		}
		return notified.Load() > 0
	})
	st, err := s.Load(ctx)
	if err != nil || string(st.Members["a"]) != `{"state":"standby"}` {
		t.Fatalf("Load members = %q, %v", st.Members, err)
	}
	if err := s.PutMember(ctx, "a/b", nil, time.Second); err == nil {
		t.Error("PutMember(a/b) = nil; want an error")
	}
	// The record disappears once it is no longer renewed.
	waitFor(t, 5*time.Second, "member record to expire", func() bool {
		st, err := s.Load(ctx)
		return err == nil && len(st.Members) == 0
	})
	// Publishing again grants a new lease.
	if err := s.PutMember(ctx, "a", []byte("x"), time.Second); err != nil {
		t.Fatalf("PutMember after expiry = %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v; want context.Canceled", err)
	}
}

func TestDatabaseSwitchoverRequest(t *testing.T) {
	s := newTestDatabaseStore(t)
	ctx := t.Context()
	if err := s.PutSwitchover(ctx, []byte("r1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSwitchover(ctx, []byte("r2"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("PutSwitchover over a pending one = %v; want ErrConflict", err)
	}
	st, _ := s.Load(ctx)
	// Taking the lease clears the request.
	if _, err := s.Campaign(ctx, time.Second, []byte("b"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if st2, _ := s.Load(ctx); st2.Switchover.Revision != 0 {
		t.Errorf("switchover request after campaign = %q; want deleted", st2.Switchover.Value)
	}
	if err := s.DeleteSwitchover(ctx, st.Switchover.Revision); err != nil {
		t.Errorf("DeleteSwitchover(gone) = %v", err)
	}
}
