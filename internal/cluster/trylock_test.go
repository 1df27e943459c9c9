package cluster

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// apiCluster is a Cluster over client for the tests of its method API.
func apiCluster(client *clientv3.Client) *Cluster {
	return &Cluster{client: client, prefix: testPrefix, log: slog.New(slog.DiscardHandler)}
}

// TestTryLockNamesHolder: a second taker fails at once with the first
// one's name, Lock waits for the same lock, and after unlock the lock is
// free again and the first holder's Lost channel is closed.
func TestTryLockNamesHolder(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	c := apiCluster(client)
	lock, err := c.TryLock(t.Context(), "deploy/web", "node-a: deploy v2 by ann")
	if err != nil {
		t.Fatalf("TryLock = %v", err)
	}
	_, err = c.TryLock(t.Context(), "deploy/web", "node-b: deploy v3 by bob")
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) || locked.Holder != "node-a: deploy v2 by ann" {
		t.Fatalf("TryLock while held = %v; want a LockedError naming node-a", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := waitLock(ctx, client, testPrefix, "deploy/web"); err == nil {
		t.Errorf("Lock while TryLock holds it = nil; want an error once ctx ends")
	}
	if other, err := c.TryLock(t.Context(), "deploy/api", "node-b"); err != nil {
		t.Errorf("TryLock of another lock = %v; want nil", err)
	} else if err := other.Unlock(t.Context()); err != nil {
		t.Errorf("unlock = %v", err)
	}
	select {
	case <-lock.Lost():
		t.Fatal("Lost closed while the lock is held")
	default:
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatalf("unlock = %v", err)
	}
	select {
	case <-lock.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost not closed after Unlock")
	}
	lock, err = c.TryLock(t.Context(), "deploy/web", "node-b")
	if err != nil {
		t.Fatalf("TryLock after unlock = %v", err)
	}
	if err := lock.Unlock(context.WithoutCancel(t.Context())); err != nil {
		t.Errorf("unlock = %v", err)
	}
}

// TestRecordsAPI: a record put is read back alone and in its kind's
// list, a missing one is ErrNoRecord, and WatchRecords reports a change.
func TestRecordsAPI(t *testing.T) {
	c := apiCluster(startTestEtcd(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := c.WatchRecords(ctx, "releases")
	select {
	case <-changes: // the watch is in place
	case <-time.After(5 * time.Second):
		t.Fatal("WatchRecords did not report the watch in place")
	}
	if _, err := c.Record(t.Context(), "releases", "web"); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("Record of nothing = %v; want ErrNoRecord", err)
	}
	if err := c.PutRecord(t.Context(), "releases", "web", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Record(t.Context(), "releases", "web"); err != nil || string(b) != "v2" {
		t.Fatalf("Record = %q, %v; want v2", b, err)
	}
	if recs, err := c.Records(t.Context(), "releases"); err != nil || string(recs["web"]) != "v2" || len(recs) != 1 {
		t.Fatalf("Records = %q, %v; want web: v2", recs, err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchRecords reported no change")
	}
	cancel()
	for range changes { // closed once ctx ends
	}
}

// TestUnavailableMarksTimeouts: etcd not answering in time is the
// control plane being unavailable; other errors are not.
func TestUnavailableMarksTimeouts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{ErrNotOpen, true},
		{ErrNoRecord, false},
		{ErrLocked, false},
	} {
		if got := errors.Is(unavailable(tc.err), ErrUnavailable); got != tc.want {
			t.Errorf("unavailable(%v) is ErrUnavailable = %v; want %v", tc.err, got, tc.want)
		}
	}
}
