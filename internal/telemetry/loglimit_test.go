package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// records keeps the records a logger wrote.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// lines returns each record's message and its "suppressed" count (-1
// when it has none).
func (r *records) lines() (msgs []string, suppressed []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		n := int64(-1)
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "suppressed" {
				n = a.Value.Int64()
			}
			return true
		})
		msgs = append(msgs, rec.Message)
		suppressed = append(suppressed, n)
	}
	return msgs, suppressed
}

// TestLogLimiter: a cause that repeats every second for a minute is
// logged once per period, each later line counting the ones left out;
// another cause is limited on its own.
func TestLogLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &records{}
		l := NewLogLimiter(slog.New(rec), 30*time.Second)
		for i := range 61 {
			l.Error("write cursor failed", "attempt", i)
			if i%20 == 0 {
				l.Warn("watch failed")
			}
			time.Sleep(time.Second)
		}
		// Cause A every second from t=0 to t=60; cause B at t=0, 20, 40, 60.
		msgs, sup := rec.lines()
		if len(msgs) != 5 {
			t.Fatalf("logged %d lines %q; want 5", len(msgs), msgs)
		}
		wantMsgs := []string{"write cursor failed", "watch failed", "write cursor failed", "watch failed", "write cursor failed"}
		wantSup := []int64{-1, -1, 29, 1, 29}
		for i := range wantMsgs {
			if msgs[i] != wantMsgs[i] || sup[i] != wantSup[i] {
				t.Errorf("line %d = %q suppressed=%d; want %q suppressed=%d", i, msgs[i], sup[i], wantMsgs[i], wantSup[i])
			}
		}
	})
}

// TestLogLimiterDisabledLevel: a record below the logger's level is
// neither logged nor counted.
func TestLogLimiterDisabledLevel(t *testing.T) {
	h := slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError})
	l := NewLogLimiter(slog.New(h), time.Minute)
	if l.Log(context.Background(), slog.LevelWarn, "x") {
		t.Errorf("Log at Warn on an Error logger = true; want false")
	}
	if !l.Log(context.Background(), slog.LevelError, "x") {
		t.Errorf("first Log at Error = false; want true")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
