package cron

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestLocalLocker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l LocalLocker
		ctx := context.Background()
		release, err := l.TryLock(ctx, "a", time.Minute)
		if err != nil {
			t.Fatalf("TryLock(a) = %v", err)
		}
		if _, err := l.TryLock(ctx, "a", time.Minute); !errors.Is(err, ErrLocked) {
			t.Fatalf("second TryLock(a) = %v; want ErrLocked", err)
		}
		if _, err := l.TryLock(ctx, "b", time.Minute); err != nil {
			t.Fatalf("TryLock(b) = %v; want it free", err)
		}
		release(ctx)
		again, err := l.TryLock(ctx, "a", time.Minute)
		if err != nil {
			t.Fatalf("TryLock(a) after release = %v", err)
		}
		release(ctx) // stale: must not free the new holder's lock
		if _, err := l.TryLock(ctx, "a", time.Minute); !errors.Is(err, ErrLocked) {
			t.Fatalf("TryLock(a) after a stale release = %v; want ErrLocked", err)
		}
		time.Sleep(time.Minute)
		if _, err := l.TryLock(ctx, "a", time.Minute); err != nil {
			t.Fatalf("TryLock(a) after the ttl = %v; want it expired", err)
		}
		again(ctx)
	})
}
