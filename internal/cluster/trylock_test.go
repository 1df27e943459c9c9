package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestTryLockAsNamesHolder: a second taker fails at once with the first
// one's name, Lock waits for the same lock, and after unlock the lock is
// free again.
func TestTryLockAsNamesHolder(t *testing.T) {
	client := startTestEtcd(t)
	unlock, err := TryLockAs(t.Context(), client, testPrefix, "deploy/web", "node-a: deploy v2 by ann")
	if err != nil {
		t.Fatalf("TryLockAs = %v", err)
	}
	_, err = TryLockAs(t.Context(), client, testPrefix, "deploy/web", "node-b: deploy v3 by bob")
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) || locked.Holder != "node-a: deploy v2 by ann" {
		t.Fatalf("TryLockAs while held = %v; want a LockedError naming node-a", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, client, testPrefix, "deploy/web"); err == nil {
		t.Errorf("Lock while TryLockAs holds it = nil; want an error once ctx ends")
	}
	if unlock2, err := TryLockAs(t.Context(), client, testPrefix, "deploy/api", "node-b"); err != nil {
		t.Errorf("TryLockAs of another lock = %v; want nil", err)
	} else if err := unlock2(t.Context()); err != nil {
		t.Errorf("unlock = %v", err)
	}
	if err := unlock(t.Context()); err != nil {
		t.Fatalf("unlock = %v", err)
	}
	unlock, err = TryLockAs(t.Context(), client, testPrefix, "deploy/web", "node-b")
	if err != nil {
		t.Fatalf("TryLockAs after unlock = %v", err)
	}
	if err := unlock(context.WithoutCancel(t.Context())); err != nil {
		t.Errorf("unlock = %v", err)
	}
}
