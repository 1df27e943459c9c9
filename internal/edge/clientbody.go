package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// clientBody is a request's body as the client sends it. Every read is
// bounded by a deadline on the connection (see bodyPace), so that a
// client sending slowly, or not at all, is cut off; and a failed read is
// returned as a *clientBodyError, so that whoever reads the body (the
// edge while buffering it, the transport while streaming it to the app)
// cannot take the client's fault for the app's.
type clientBody struct {
	rc   io.ReadCloser
	ctl  http.ResponseController // sets the deadlines
	pace bodyPace                // zero timeout: no deadline
	// failed is the first failed read, returned from then on. It is read
	// from the request's goroutine while the transport reads the body on
	// its own.
	failed atomic.Pointer[clientBodyError]
	// noDeadline is set when the writer cannot set deadlines (a test's
	// recorder): the body is then read without one.
	noDeadline bool
}

// bodyPace decides how long the edge waits for a request body: never
// more than timeout for the next bytes, and, once timeout has passed
// since the body began, the body must have come at minRate bytes per
// second on average. A trickle (one byte every few seconds) thus ends
// after about timeout, while a large upload at any reasonable speed goes
// on. It is Apache's mod_reqtimeout "body=timeout,MinRate=minRate" with
// nginx's client_body_timeout between reads.
type bodyPace struct {
	timeout  time.Duration
	minRate  int64 // bytes per second; 0: none
	start    time.Time
	received int64
}

// deadline returns the time by which the next read must bring bytes, for
// a read starting at now.
func (p *bodyPace) deadline(now time.Time) time.Time {
	d := now.Add(p.timeout)
	if p.minRate > 0 {
		credit := time.Duration(float64(p.received) / float64(p.minRate) * float64(time.Second))
		if r := p.start.Add(p.timeout + credit); r.Before(d) {
			d = r
		}
	}
	return d
}

func (b *clientBody) Read(p []byte) (int, error) {
	if err := b.failed.Load(); err != nil {
		return 0, err
	}
	if b.pace.timeout > 0 && !b.noDeadline {
		b.noDeadline = b.ctl.SetReadDeadline(b.pace.deadline(time.Now())) != nil
	}
	n, err := b.rc.Read(p)
	b.pace.received += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		// The deadline must not outlive the body: net/http reads the
		// connection again once the body ends, to notice a client that
		// leaves while the request is served.
		if b.pace.timeout > 0 && !b.noDeadline {
			_ = b.ctl.SetReadDeadline(time.Time{}) // it was set just before: this cannot fail
		}
	default:
		// The deadline is left as it is: after the response the server
		// may read what is left of the body, which must not wait.
		e := &clientBodyError{err: err}
		b.failed.Store(e)
		err = e
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// clientBodyError is the failure to read a request body from the client.
// errorStatus maps it to a 4xx or 499, never to the app's 5xx.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// status returns the status and error kind for the failure; ctx is the
// request's.
func (e *clientBodyError) status(ctx context.Context) (int, string) {
	var maxBytes *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(e.err, &maxBytes):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.As(e.err, &netErr) && netErr.Timeout():
		return http.StatusRequestTimeout, "body_timeout"
	case ctx.Err() != nil, errors.Is(e.err, io.ErrUnexpectedEOF), errors.As(e.err, new(*net.OpError)):
		// The connection ended or broke in the middle of the body.
		return statusClientClosed, "client_closed"
	default:
		// Anything else net/http's body reader says is a malformed body:
		// bad chunk sizes, a missing CRLF, a chunk line too long.
		return http.StatusBadRequest, "bad_body"
	}
}
