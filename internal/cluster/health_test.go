package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	up := Health{Quorum: true, Leader: "a", Since: t0}
	down := Health{Quorum: false, Since: t0, Err: "lost"}
	lost := errors.New("lost")
	tests := []struct {
		name   string
		prev   Health
		leader string
		err    error
		want   Health
	}{
		{"still up", up, "a", nil, Health{Quorum: true, Leader: "a", Since: t0}},
		{"new leader, still up", up, "b", nil, Health{Quorum: true, Leader: "b", Since: t0}},
		{"lost", up, "", lost, Health{Quorum: false, Since: t1, Err: "lost"}},
		{"still down", down, "", lost, Health{Quorum: false, Since: t0, Err: "lost"}},
		{"back", down, "c", nil, Health{Quorum: true, Leader: "c", Since: t1}},
		{"first check", Health{}, "a", nil, Health{Quorum: true, Leader: "a", Since: t1}},
	}
	for _, tc := range tests {
		if got := nextHealth(tc.prev, tc.leader, tc.err, t1); got != tc.want {
			t.Errorf("%s: nextHealth(%+v, %q, %v) = %+v; want %+v", tc.name, tc.prev, tc.leader, tc.err, got, tc.want)
		}
	}
}

// TestHealthLoop runs the loop on fake time against a probe that fails
// from 3s to 6s: Health follows, and each change is logged once.
func TestHealthLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs recordingHandler
		c, err := New(Options{Name: "t", Node: "a", DataDir: "/nonexistent", Logger: slog.New(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.health = Health{Quorum: true, Since: start}
		c.probe = func(context.Context) (string, error) {
			if d := time.Since(start); d >= 3*time.Second && d < 6*time.Second {
				return "", ErrNoQuorum
			}
			return "a", nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.healthLoop(ctx)
		}()

		time.Sleep(4500 * time.Millisecond)
		synctest.Wait()
		if h := c.Health(); h.Quorum || !h.Since.Equal(start.Add(3*time.Second)) || h.Err == "" {
			t.Errorf("Health() at 4.5s = %+v; want no quorum since 3s, with the error", h)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if h := c.Health(); !h.Quorum || h.Leader != "a" || !h.Since.Equal(start.Add(6*time.Second)) {
			t.Errorf("Health() at 7.5s = %+v; want quorum since 6s, leader a", h)
		}
		cancel()
		<-done

		want := []string{"WARN cluster quorum lost", "INFO cluster quorum back"}
		if got := logs.lines(); !slices.Equal(got, want) {
			t.Errorf("logged %q; want %q", got, want)
		}
	})
}

type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}

func (h *recordingHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}
