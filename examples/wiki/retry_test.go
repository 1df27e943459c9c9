package main

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

var errFailingOver = &pgconn.PgError{Code: "57P03", Message: "the database system is failing over; retry"}

// TestRetryBacksOff: tries come at 0, 50ms, 150ms, 350ms... until one
// succeeds.
func TestRetryBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		err := retry(t.Context(), pgRetryable, func(context.Context) error {
			at = append(at, time.Since(start))
			if len(at) < 4 {
				return errFailingOver
			}
			return nil
		})
		want := []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 350 * time.Millisecond}
		if err != nil || len(at) != len(want) {
			t.Fatalf("retry = %v after tries at %v; want success at %v", err, at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("try %d at %s; want %s", i, at[i], want[i])
			}
		}
	})
}

// TestRetryGivesUp: a failover that outlasts the budget returns its error
// when the next try would start past the budget.
func TestRetryGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tries := 0
		err := retry(t.Context(), pgRetryable, func(context.Context) error {
			tries++
			return errFailingOver
		})
		elapsed := time.Since(start)
		if !errors.Is(err, errFailingOver) {
			t.Errorf("retry = %v; want the last error", err)
		}
		if elapsed > retryBudget || elapsed < retryBudget-retryMaxWait {
			t.Errorf("gave up after %s (%d tries); want within %s of the %s budget", elapsed, tries, retryMaxWait, retryBudget)
		}
	})
}

// TestRetryOnlyRetryable: other errors, and a context that ends, stop
// retrying at once.
func TestRetryOnlyRetryable(t *testing.T) {
	tries := 0
	err := retry(t.Context(), pgRetryable, func(context.Context) error { tries++; return ErrEditConflict })
	if !errors.Is(err, ErrEditConflict) || tries != 1 {
		t.Errorf("retry of a conflict = %v after %d tries; want it returned after 1", err, tries)
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		time.AfterFunc(120*time.Millisecond, cancel)
		err := retry(ctx, pgRetryable, func(context.Context) error { return errFailingOver })
		if !errors.Is(err, errFailingOver) || time.Since(start) != 120*time.Millisecond {
			t.Errorf("retry with ctx cancelled at 120ms = %v after %s; want the last error at 120ms", err, time.Since(start))
		}
	})
}
