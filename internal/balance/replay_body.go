package balance

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// replayBody holds a request's body across attempts. Each attempt sends an
// attemptBody over it: reads are recorded, so that a failed attempt is
// retried only if the body was not touched, and the transport's Close does
// not close the original until the attempt it belongs to is the final one.
type replayBody struct {
	rc    io.ReadCloser
	read  atomic.Bool // a byte was read, or reading failed: the body cannot be sent again
	first attemptBody // the first attempt's wrapper, to save an allocation

	mu      sync.Mutex   // guards the fields below and attemptBody.closed
	readErr error        // the first read error other than io.EOF
	final   *attemptBody // the attempt whose Close closes rc; nil while undecided
	closed  bool         // rc was closed
}

func newReplayBody(rc io.ReadCloser) *replayBody {
	b := &replayBody{rc: rc}
	b.first.b = b
	return b
}

// attempt returns the body to send with attempt n (0-based).
// A nil b has nil attempts.
func (b *replayBody) attempt(n int) *attemptBody {
	if b == nil {
		return nil
	}
	if n == 0 {
		return &b.first
	}
	return &attemptBody{b: b}
}

// finish makes a the final attempt: the original body is closed when a's
// transport closes a, which may already have happened.
func (b *replayBody) finish(a *attemptBody) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.final = a
	closeNow := a.closed && !b.closed
	b.closed = b.closed || closeNow
	b.mu.Unlock()
	if closeNow {
		_ = b.rc.Close() // as a transport's Close would; nobody to report to
	}
}

// close closes the original body when no attempt was made.
func (b *replayBody) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	closeNow := !b.closed
	b.closed = true
	b.mu.Unlock()
	if closeNow {
		_ = b.rc.Close() // nobody to report to
	}
}

// clientErr returns the error reading the body failed with, if any: the
// client's fault, not the target's.
func (b *replayBody) clientErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr
}

// attemptBody is the request body of one attempt.
type attemptBody struct {
	b      *replayBody
	closed bool // the transport closed it; guarded by b.mu
}

// Read implements io.Reader.
func (a *attemptBody) Read(p []byte) (int, error) {
	n, err := a.b.rc.Read(p)
	if n > 0 && !a.b.read.Load() {
		a.b.read.Store(true)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		a.b.read.Store(true)
		a.b.mu.Lock()
		if a.b.readErr == nil {
			a.b.readErr = err
		}
		a.b.mu.Unlock()
	}
	return n, err
}

// Close implements io.Closer: it closes the original only if this attempt
// is the final one.
func (a *attemptBody) Close() error {
	b := a.b
	b.mu.Lock()
	a.closed = true
	closeNow := b.final == a && !b.closed
	b.closed = b.closed || closeNow
	b.mu.Unlock()
	if closeNow {
		return b.rc.Close()
	}
	return nil
}
