package supervise

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const waitTimeout = 15 * time.Second

// recorder collects values (log records, events) and lets a test wait for
// one without sleeping.
type recorder[T any] struct {
	mu      sync.Mutex // guards the fields below
	items   []T
	changed chan struct{} // closed and replaced on every add
}

func newRecorder[T any]() *recorder[T] { return &recorder[T]{changed: make(chan struct{})} }

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

// wait returns the first item from index from on that matches, failing the
// test after waitTimeout, and the index after it.
func (r *recorder[T]) wait(t *testing.T, from int, what string, match func(T) bool) (T, int) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.items); i++ {
			if match(r.items[i]) {
				v := r.items[i]
				r.mu.Unlock()
				return v, i + 1
			}
		}
		from = len(r.items)
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			var zero T
			t.Fatalf("no %s within %v", what, waitTimeout)
			return zero, 0
		}
	}
}

// logRecord is a log record with its attributes as strings.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// recordHandler is a slog.Handler that adds records to a recorder.
type recordHandler struct {
	rec   *recorder[logRecord]
	attrs []slog.Attr
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	lr := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		lr.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		lr.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.rec.add(lr)
	return nil
}

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordHandler{rec: h.rec, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

// harness is a running Supervisor with its logs and events recorded.
type harness struct {
	sup    *Supervisor
	logs   *recorder[logRecord]
	events *recorder[Event]
}

// startSupervisor runs a Supervisor until the test ends, then checks that
// Run returns nil.
func startSupervisor(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{logs: newRecorder[logRecord](), events: newRecorder[Event]()}
	opts.Logger = slog.New(recordHandler{rec: h.logs})
	opts.OnEvent = h.events.add
	sup, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run = %v; want nil", err)
		}
	})
	return h
}

func (h *harness) start(t *testing.T, spec Spec) *Instance {
	t.Helper()
	in, err := h.sup.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start(%s) = %v", spec.Name, err)
	}
	return in
}

// waitEvent waits for an event of kind for instance name.
func (h *harness) waitEvent(t *testing.T, from int, name string, kind EventKind) (Event, int) {
	t.Helper()
	return h.events.wait(t, from, name+" "+kind.String()+" event", func(ev Event) bool {
		return ev.Instance == name && ev.Kind == kind
	})
}

// waitOutput waits until instance name printed line.
func (h *harness) waitOutput(t *testing.T, name, line string) {
	t.Helper()
	h.logs.wait(t, 0, "output "+line+" of "+name, func(r logRecord) bool {
		return r.Msg == "instance output" && r.Attrs["instance"] == name && r.Attrs["line"] == line
	})
}

// dead reports whether process pid has exited (a zombie counts) within d.
func dead(pid int, d time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		panic(err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
