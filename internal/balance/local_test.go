package balance

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfileDialer dials as a net.Dialer does, or fails as socket(2) does when
// the process is out of descriptors, while out is set. It signals every
// failed dial on failed.
type emfileDialer struct {
	out    atomic.Bool
	failed chan struct{}
}

func (d *emfileDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.out.Load() {
		select {
		case d.failed <- struct{}{}:
		default:
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", syscall.EMFILE)}
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// TestLocalResourceErrorIsNotTargetFailure: while this process cannot open
// sockets, health checks and requests fail, but the target is neither
// marked unhealthy nor ejected, no retry goes elsewhere, the request's
// error says why (the edge answers 503), and the log says it a bounded
// number of times. When descriptors are back, the target serves at once.
func TestLocalResourceErrorIsNotTargetFailure(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	d := &emfileDialer{failed: make(chan struct{}, 1)}
	var logs syncBuffer
	tp := startPool(t, Options{
		// A check times out only long after its dial failed, however
		// loaded the machine.
		Health:      HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 10 * time.Second, Rise: 1, Fall: 2},
		DialContext: d.dial,
		Passive:     PassiveHealth{ConsecutiveErrors: 1},
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	}, a, b)
	d.out.Store(true)
	// Twice Fall failed checks of each target: enough to mark them
	// unhealthy if they counted.
	for range 8 {
		<-d.failed
	}
	for i := range 50 {
		_, err := get(context.Background(), tp, "/")
		var uerr *UpstreamError
		if !errors.Is(err, ErrLocalResources) || !errors.Is(err, syscall.EMFILE) || !errors.As(err, &uerr) || uerr.Attempts != 1 {
			t.Fatalf("GET %d without descriptors = %v; want ErrLocalResources wrapping EMFILE, after 1 attempt", i, err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if st, _ := tp.Target(id); st.State != StateHealthy || st.Failures != 0 || !st.EjectedUntil.IsZero() {
			t.Errorf("target %s after local errors: %v, %d failures, ejected until %v; want healthy, 0, not ejected", id, st.State, st.Failures, st.EjectedUntil)
		}
	}
	if n := tp.Stats().LocalErrors; n < 50 {
		t.Errorf("Stats().LocalErrors = %d; want at least the 50 GETs", n)
	}
	// A line a second at most: the test ran for a few at most.
	if n := logs.count("local resource error"); n < 1 || n > 10 {
		t.Errorf("logged %d local resource errors; want at least 1 and a bounded number", n)
	}
	d.out.Store(false)
	if body, err := get(context.Background(), tp, "/"); err != nil || (body != "a" && body != "b") {
		t.Errorf("GET with descriptors back = %q, %v; want an answer", body, err)
	}
}

// TestLocalErrorsLogRate: record logs at most once per localLogEvery and
// says how many errors each line stands for.
func TestLocalErrorsLogRate(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var l localErrors
	err := os.NewSyscallError("socket", syscall.EMFILE)
	for i := range 1000 {
		l.record(log, int64(i)*int64(time.Millisecond), "request", "web-1", err)
	}
	if n := logs.count("local resource error"); n != 1 {
		t.Errorf("1000 errors within 1s logged %d lines; want 1", n)
	}
	l.record(log, int64(time.Second), "request", "web-1", err)
	if n := logs.count("local resource error"); n != 2 || logs.count("errors=1000") != 1 {
		t.Errorf("after 1s: %d lines, log %q; want a second line standing for 1000 errors", n, logs.b.String())
	}
	if l.count.Load() != 1001 {
		t.Errorf("count = %d; want 1001", l.count.Load())
	}
}

// TestIsLocalResource tells this host's shortages from the target's
// failures.
func TestIsLocalResource(t *testing.T) {
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{op(syscall.EMFILE), true},
		{op(syscall.ENFILE), true},
		{op(syscall.ENOBUFS), true},
		{op(syscall.EADDRNOTAVAIL), true},
		{op(syscall.ECONNREFUSED), false},
		{op(syscall.ETIMEDOUT), false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := isLocalResource(tt.err); got != tt.want {
			t.Errorf("isLocalResource(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}
