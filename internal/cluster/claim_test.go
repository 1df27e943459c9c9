package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClaimOneWinnerPerTick(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	const ticks = 50
	base := time.Unix(1700000000, 0)
	nodes := []string{"a", "b", "c"}
	var mu sync.Mutex
	winners := make(map[int][]string) // tick index -> nodes that won it
	var wg sync.WaitGroup
	for _, node := range nodes {
		wg.Go(func() {
			for i := range ticks {
				tick := base.Add(time.Duration(i) * time.Minute)
				won, err := Claim(t.Context(), client, testPrefix, "job/report", tick, node, 30*time.Second)
				if err != nil {
					t.Errorf("Claim(job/report, %v, %s) = %v", tick, node, err)
					return
				}
				if won {
					mu.Lock()
					winners[i] = append(winners[i], node)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for i := range ticks {
		if len(winners[i]) != 1 {
			t.Errorf("tick %d winners = %v; want exactly one", i, winners[i])
		}
	}

	// A retry by the winner wins again; by anybody else, loses.
	tick := base
	for _, node := range nodes {
		won, err := Claim(t.Context(), client, testPrefix, "job/report", tick, node, 30*time.Second)
		if want := node == winners[0][0]; err != nil || won != want {
			t.Errorf("Claim again(%s) = %v, %v; want %v, nil", node, won, err, want)
		}
	}
	// Another name at the same tick is a separate claim.
	if won, err := Claim(t.Context(), client, testPrefix, "job/other", tick, "b", 30*time.Second); err != nil || !won {
		t.Errorf("Claim(job/other) = %v, %v; want true, nil", won, err)
	}
}

func TestLockExcludes(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	var inside, runs atomic.Int32
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 3 {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				unlock, err := waitLock(ctx, client, testPrefix, "release/web")
				cancel() // the lock outlives the context it was taken with
				if err != nil {
					t.Errorf("Lock = %v", err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("holders at once = %d; want 1", n)
				}
				// A round trip to etcd while holding it, so that a broken
				// lock would let another holder in meanwhile.
				if _, err := client.Get(t.Context(), "/tandem/test/x"); err != nil {
					t.Errorf("Get = %v", err)
				}
				inside.Add(-1)
				runs.Add(1)
				if err := unlock(t.Context()); err != nil {
					t.Errorf("unlock = %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := runs.Load(); got != 9 {
		t.Errorf("runs = %d; want 9", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	unlock, err := waitLock(t.Context(), client, testPrefix, "release/web")
	if err != nil {
		t.Fatalf("Lock = %v", err)
	}
	if _, err := waitLock(ctx, client, testPrefix, "release/web"); err == nil {
		t.Errorf("Lock while held = nil; want an error once ctx ends")
	}
	if err := unlock(t.Context()); err != nil {
		t.Errorf("unlock = %v", err)
	}
}
