package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTryLock(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	ctx := context.Background()
	release, err := TryLock(ctx, client, testPrefix, "cron/firing/x/1", "a", 10*time.Second)
	if err != nil {
		t.Fatalf("TryLock by a: %v", err)
	}
	if _, err := TryLock(ctx, client, testPrefix, "cron/firing/x/1", "b", 10*time.Second); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock by b while a holds it = %v; want ErrLocked", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(ctx, client, testPrefix, "cron/firing/x/1", "b", 10*time.Second); err != nil {
		t.Fatalf("TryLock by b after release = %v; want nil", err)
	}
	// A short ttl frees the lock by itself.
	if _, err := TryLock(ctx, client, testPrefix, "short", "a", time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := TryLock(ctx, client, testPrefix, "short", "b", time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("TryLock after the ttl = %v; want nil within 10s", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRecords(t *testing.T) {
	client := startTestEtcd(t)
	ctx := context.Background()
	for id, v := range map[string]string{"home/a": "up", "home/b": "down", "api/a": "up"} {
		if err := PutRecord(ctx, client, testPrefix, "checks", id, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Records(ctx, client, testPrefix, "checks")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["home/b"]) != "down" || string(got["api/a"]) != "up" {
		t.Errorf("Records = %q; want 3 with home/b=down", got)
	}
}
