package balance

import (
	"io"
	"sync/atomic"
)

// responseBody holds a target's in-flight count until the response body is
// closed.
type responseBody struct {
	rc       io.ReadCloser
	t        *target
	released atomic.Bool
}

// Read implements io.Reader.
func (r *responseBody) Read(p []byte) (int, error) { return r.rc.Read(p) }

// Close closes the body, then releases the target.
func (r *responseBody) Close() error {
	err := r.rc.Close()
	if r.released.CompareAndSwap(false, true) {
		r.t.release()
	}
	return err
}

// upgradeBody is the body of a 101 Switching Protocols response: the
// connection itself, which httputil.ReverseProxy writes to.
type upgradeBody struct {
	responseBody
	w io.Writer
}

// Write implements io.Writer.
func (u *upgradeBody) Write(p []byte) (int, error) { return u.w.Write(p) }

// cancelBody is a responseBody whose try had a context of its own: closing
// the body ends it.
type cancelBody struct {
	responseBody
	cancel func()
}

// Close closes the body, releases the target and ends the context.
func (c *cancelBody) Close() error {
	err := c.responseBody.Close()
	c.cancel()
	return err
}

// wrapResponseBody returns rc wrapped to release t, and call cancel if not
// nil, when closed, keeping io.Writer if rc has it (an upgrade, which is
// never hedged, so has no cancel).
func wrapResponseBody(rc io.ReadCloser, t *target, cancel func()) io.ReadCloser {
	if rwc, ok := rc.(io.ReadWriteCloser); ok {
		return &upgradeBody{responseBody: responseBody{rc: rc, t: t}, w: rwc}
	}
	if cancel != nil {
		return &cancelBody{responseBody: responseBody{rc: rc, t: t}, cancel: cancel}
	}
	return &responseBody{rc: rc, t: t}
}
