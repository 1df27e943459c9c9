package cron

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// runLog records what OnRun is told.
type runLog struct {
	mu      sync.Mutex
	results map[Result]int
	missed  int
}

func (l *runLog) onRun(job string, r Run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.results == nil {
		l.results = map[Result]int{}
	}
	l.results[r.Result]++
	l.missed += r.Missed
}

// TestOnRun: OnRun hears of every ended run, skipped firing and missed
// firings, as the history records them.
func TestOnRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log runLog
		f := &fakeExec{d: 2500 * time.Millisecond}
		opts := Options{Jobs: []Job{{Name: "slow", Schedule: every(t, "@every 1s")}}, Exec: f.exec, Dir: t.TempDir(), OnRun: log.onRun}
		r, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r, 10500*time.Millisecond)
		if log.results[ResultOK] != 3 || log.results[ResultSkipped] != 6 {
			t.Errorf("OnRun results = %v; want 3 ok and 6 skipped", log.results)
		}
		time.Sleep(10 * time.Second) // tandem is down
		r2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r2, 500*time.Millisecond)
		if log.results[ResultMissed] != 1 || log.missed < 9 {
			t.Errorf("OnRun after downtime: results %v, %d missed; want one missed entry for at least 9 firings", log.results, log.missed)
		}
	})
}
