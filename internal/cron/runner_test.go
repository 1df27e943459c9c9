package cron

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeExec is a job command that takes d and exits with code, tracking
// how many of its runs overlap.
type fakeExec struct {
	d       time.Duration
	code    int
	block   bool // run until ctx ends
	running atomic.Int32
	maxRun  atomic.Int32
	calls   atomic.Int32
}

func (f *fakeExec) exec(ctx context.Context, job string, output func(string)) (int, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxRun.Load()
		if n <= m || f.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	call := f.calls.Add(1)
	for i := range 30 {
		output(fmt.Sprintf("%s run %d line %d", job, call, i))
	}
	if f.block {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	select {
	case <-time.After(f.d):
		return f.code, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func every(t *testing.T, spec string) Schedule {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runFor runs r for d of bubble time and returns its jobs' status.
func runFor(t *testing.T, r *Runner, d time.Duration) []Status {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(d)
	st := r.Status()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	return st
}

func countResults(runs []Run) map[Result]int {
	m := map[Result]int{}
	for _, r := range runs {
		m[r.Result]++
	}
	return m
}

func TestRunnerEverySecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeExec{d: 100 * time.Millisecond}
		r, err := New(Options{Jobs: []Job{{Name: "tick", Schedule: every(t, "@every 1s")}}, Exec: f.exec})
		if err != nil {
			t.Fatal(err)
		}
		st := runFor(t, r, 5500*time.Millisecond)[0]
		if got := countResults(st.Runs); got[ResultOK] != 5 || len(st.Runs) != 5 {
			t.Errorf("results after 5.5s = %v; want 5 ok", got)
		}
		for i, run := range st.Runs {
			if want := time.Duration(i+1) * time.Second; run.Started.Sub(st.Runs[0].Started) != want-time.Second {
				t.Errorf("run %d started at +%s; want on the second", i, run.Started.Sub(st.Runs[0].Started))
			}
			if len(run.Output) != tailLines || run.ExitCode != 0 {
				t.Errorf("run %d: %d output lines, exit %d; want the last %d lines, exit 0", i, len(run.Output), run.ExitCode, tailLines)
			}
		}
		if st.Counts != (Counts{Runs: 5}) {
			t.Errorf("counts = %+v; want 5 runs", st.Counts)
		}
	})
}

func TestRunnerOverlap(t *testing.T) {
	for _, policy := range []Overlap{OverlapSkip, OverlapQueue} {
		t.Run(string(policy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeExec{d: 2500 * time.Millisecond}
				r, err := New(Options{Jobs: []Job{{Name: "slow", Schedule: every(t, "@every 1s"), Overlap: policy}}, Exec: f.exec})
				if err != nil {
					t.Fatal(err)
				}
				st := runFor(t, r, 10500*time.Millisecond)[0]
				if f.maxRun.Load() != 1 {
					t.Errorf("%d runs overlapped; want 1 at a time", f.maxRun.Load())
				}
				res := countResults(st.Runs)
				switch policy {
				case OverlapSkip:
					// Runs at 1s, 4s, 7s, 10s; the firings in between are skipped.
					if res[ResultOK] != 3 || res[ResultSkipped] != 6 || st.Counts.Skipped != 6 {
						t.Errorf("results = %v, counts %+v; want 3 ok and 6 skipped", res, st.Counts)
					}
				case OverlapQueue:
					// Back to back from 1s: ends at 3.5s, 6s, 8.5s; the rest queued.
					if res[ResultOK] != 3 || res[ResultSkipped] != 0 || st.Queued == 0 {
						t.Errorf("results = %v, queued %d; want 3 ok, none skipped, some queued", res, st.Queued)
					}
					for i := 1; i < len(st.Runs); i++ {
						if st.Runs[i].Started.Before(st.Runs[i-1].Finished) {
							t.Errorf("run %d started before run %d ended", i, i-1)
						}
					}
				}
			})
		})
	}
}

func TestRunnerFailureAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := &fakeExec{d: 10 * time.Millisecond, code: 3}
		hang := &fakeExec{block: true}
		r, err := New(Options{
			Jobs: []Job{
				{Name: "fail", Schedule: every(t, "@every 1s")},
				{Name: "hang", Schedule: every(t, "@every 1m"), Timeout: 2 * time.Second},
			},
			Exec: func(ctx context.Context, job string, output func(string)) (int, error) {
				if job == "fail" {
					return fail.exec(ctx, job, output)
				}
				return hang.exec(ctx, job, output)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		st := runFor(t, r, 62500*time.Millisecond)
		f, h := st[0], st[1]
		if last := f.Runs[len(f.Runs)-1]; last.Result != ResultFailed || last.ExitCode != 3 || last.Error != "exit code 3" || f.Counts.Failed != f.Counts.Runs {
			t.Errorf("failing job: last run %+v, counts %+v; want failed with exit code 3", last, f.Counts)
		}
		if len(h.Runs) != 1 || h.Runs[0].Result != ResultTimeout || h.Runs[0].Finished.Sub(h.Runs[0].Started) != 2*time.Second || h.Counts.Failed != 1 {
			t.Errorf("hanging job: runs %+v; want one timeout after 2s", h.Runs)
		}
	})
}

func TestRunnersShareFirings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var locker LocalLocker
		f := &fakeExec{d: 10 * time.Millisecond}
		var runners []*Runner
		for range 3 {
			r, err := New(Options{Jobs: []Job{{Name: "once", Schedule: every(t, "@every 1s")}}, Exec: f.exec, Locker: &locker})
			if err != nil {
				t.Fatal(err)
			}
			runners = append(runners, r)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Go(func() { r.Run(ctx) })
		}
		time.Sleep(10500 * time.Millisecond)
		cancel()
		wg.Wait()
		if got := f.calls.Load(); got != 10 {
			t.Errorf("3 runners sharing a locker ran %d times in 10 firings; want 10", got)
		}
	})
}

func TestRunnerMissedWhileDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := &fakeExec{d: 10 * time.Millisecond}
		opts := Options{Jobs: []Job{{Name: "m", Schedule: every(t, "@every 1s")}}, Exec: f.exec, Dir: dir}
		r, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r, 3500*time.Millisecond)
		time.Sleep(10 * time.Second) // tandem is down
		r2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		st := runFor(t, r2, 1500*time.Millisecond)[0]
		res := countResults(st.Runs)
		if res[ResultOK] != 4 || res[ResultMissed] != 1 || st.Counts.Missed != 10 {
			t.Errorf("results = %v, counts %+v; want 4 ok and one entry for 10 missed firings", res, st.Counts)
		}
	})
}

func TestRunNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeExec{d: time.Second, code: 2}
		r, err := New(Options{Jobs: []Job{{Name: "manual", Schedule: every(t, "@yearly")}}, Exec: f.exec})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.RunNow(t.Context(), "manual"); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("RunNow before Run = %v; want ErrNotRunning", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		var first Run
		var firstErr error
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			first, firstErr = r.RunNow(t.Context(), "manual")
		}()
		synctest.Wait()
		if _, err := r.RunNow(t.Context(), "manual"); !errors.Is(err, ErrRunning) {
			t.Errorf("RunNow while running = %v; want ErrRunning", err)
		}
		if _, err := r.RunNow(t.Context(), "nope"); !errors.Is(err, ErrUnknownJob) {
			t.Errorf("RunNow(unknown) = %v; want ErrUnknownJob", err)
		}
		<-finished
		if firstErr != nil || first.Result != ResultFailed || first.ExitCode != 2 || first.Trigger != TriggerManual {
			t.Errorf("RunNow() = %+v, %v; want a failed manual run with exit code 2", first, firstErr)
		}
		cancel()
		<-done
	})
}

// claimedElsewhere is a Locker whose firing locks, after the first
// grant, are all held by another runner, as for a node that loses the
// race for each firing of a cluster.
type claimedElsewhere struct {
	LocalLocker
	granted atomic.Int32
}

func (l *claimedElsewhere) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	if strings.HasPrefix(key, "cron/firing/") && l.granted.Add(1) > 1 {
		return nil, fmt.Errorf("lock %s: %w", key, ErrLocked)
	}
	return l.LocalLocker.TryLock(ctx, key, ttl)
}

// TestRunnerRestartAfterOthersFired: firings that other runners claimed
// are not counted as missed when this runner restarts. Every runner
// computes the same aligned firings, so the ones this runner loses are
// handled, not missed.
func TestRunnerRestartAfterOthersFired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := &fakeExec{d: 10 * time.Millisecond}
		jobs := []Job{{Name: "m", Schedule: every(t, "@every 1s")}}
		r, err := New(Options{Jobs: jobs, Exec: f.exec, Dir: dir, Locker: new(claimedElsewhere)})
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r, 5500*time.Millisecond)
		if got := f.calls.Load(); got != 1 {
			t.Fatalf("runner that won 1 of 5 firings ran %d times; want 1", got)
		}
		r2, err := New(Options{Jobs: jobs, Exec: f.exec, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		st := runFor(t, r2, 1500*time.Millisecond)[0]
		if res := countResults(st.Runs); res[ResultMissed] != 0 || st.Counts.Missed != 0 || res[ResultOK] != 2 {
			t.Errorf("after a restart: results %v, counts %+v; want 2 ok, none missed (the others ran those firings)", res, st.Counts)
		}
	})
}
