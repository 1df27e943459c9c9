package main

import (
	"context"
	"time"
)

// Retries of an operation interrupted by a database failover. The budget
// covers a failover (a few seconds) with room to spare, and stays well
// inside the edge's 60s upstream timeout.
const (
	retryFirstWait = 50 * time.Millisecond
	retryMaxWait   = time.Second
	retryBudget    = 15 * time.Second
)

// retry runs op until it succeeds, fails with an error retryable does not
// accept, ctx ends, or the next try would start after retryBudget; it
// returns op's last error. The waits double from retryFirstWait up to
// retryMaxWait.
func retry(ctx context.Context, retryable func(error) bool, op func(context.Context) error) error {
	deadline := time.Now().Add(retryBudget)
	wait := retryFirstWait
	for {
		err := op(ctx)
		if err == nil || retryable == nil || !retryable(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, retryMaxWait)
	}
}
