package balance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conns sends requests to one target over kept-alive HTTP/1.1 connections,
// in the caller's goroutine. It is the request path's transport for the
// common case, a request without a body and without an upgrade (see
// direct): net/http's Transport hands every request to a writer goroutine
// and every response from a reader goroutine, and on a loopback proxy those
// switches cost more than the proxying itself. Requests with a body, which
// must be written while the response may already arrive, and upgrades go
// through the Transport.
//
// Idle connections are kept last-in first-out, so a quiet pool keeps using
// the same few and the rest age out; at most connMaxIdle are kept. A
// connection idle for connStaleAfter is checked for a close by the target
// before it is used again; one idle for connIdleTimeout is closed by sweep.
type conns struct {
	addr          string
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout time.Duration // bound on the wait for response headers; 0 means none

	mu     sync.Mutex // guards the fields below
	idle   []*upstreamConn
	closed bool
}

// Limits of conns.
const (
	connIdleTimeout      = 90 * time.Second // as the Transport's IdleConnTimeout
	connMaxIdle          = 512              // as the Transport's MaxIdleConnsPerHost
	connStaleAfter       = time.Second      // idle this long: check before reuse
	maxResponseHeader    = 1 << 20          // bytes of status line and header fields
	max1xxResponses      = 5                // informational responses before the final one
	connReadBufferBytes  = 4 << 10
	connWriteBufferBytes = 4 << 10
)

// errResponseHeaderTooLarge is returned when a target sends more than
// maxResponseHeader bytes of response header.
var errResponseHeaderTooLarge = fmt.Errorf("response header over %d bytes", maxResponseHeader)

// upstreamConn is one connection to a target. It is used by one request at
// a time; between requests it sits in conns.idle.
type upstreamConn struct {
	nc         net.Conn
	lr         limitedReader // nc, bounded while a response header is read
	br         *bufio.Reader // reads lr
	bw         *bufio.Writer // writes nc
	idleAt     time.Time     // when it was last put back
	reused     bool          // it served a request before this one
	deadlineAt time.Time     // the read deadline set on nc; zero when none
}

// limitedReader reads from r until n bytes have been read, then fails with
// errResponseHeaderTooLarge. n < 0 means no limit.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errResponseHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func newConns(addr string, dial func(context.Context, string, string) (net.Conn, error), headerTimeout time.Duration) *conns {
	return &conns{addr: addr, dial: dial, headerTimeout: headerTimeout}
}

// direct reports whether req can go over conns: no body to send, no
// protocol upgrade, no tunnel.
func direct(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && req.Header["Upgrade"] == nil && req.Method != http.MethodConnect
}

// RoundTrip sends req, which direct accepts, and returns the response. A
// connection the target closed while it was idle is noticed when the
// request fails on it before any answer; the request is then sent once more
// on a new connection if that is safe (nothing was written, or the method
// is idempotent).
func (cs *conns) RoundTrip(req *http.Request) (*http.Response, error) {
	return cs.send(req, nil)
}

// send is RoundTrip for a try that intr may interrupt (nil: none).
func (cs *conns) send(req *http.Request, intr *interrupt) (*http.Response, error) {
	ctx := req.Context()
	// A request that cannot be sent twice gets a connection checked for a
	// close by the target, however briefly it was idle.
	check := !replayable(req)
	for {
		c, err := cs.get(ctx, check, intr)
		if err != nil {
			return nil, err
		}
		resp, err := cs.roundTrip(ctx, c, req, intr)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		var se *staleError
		if !errors.As(err, &se) || ctx.Err() != nil || intr.fired() {
			return nil, err
		}
		if !se.nothingWritten && !replayable(req) {
			return nil, se.err
		}
		// The target may have closed its other idle connections too:
		// check each before using it.
		check = true
	}
}

// staleError is a failure on a reused connection before any byte of the
// response arrived: the target most likely closed it while it was idle.
type staleError struct {
	err            error
	nothingWritten bool
}

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

// replayable reports whether req may be sent again after it may have
// reached the target: as net/http decides it for a request without a body.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

// roundTrip sends req on c and reads the response header. On success c
// belongs to the response body; on failure the caller closes c. intr, if
// not nil, may interrupt the try until the response header arrived.
func (cs *conns) roundTrip(ctx context.Context, c *upstreamConn, req *http.Request, intr *interrupt) (*http.Response, error) {
	if !intr.watchConn(c.nc) {
		return nil, errHedgeLost
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		if !stop() || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		if intr.fired() {
			return nil, fmt.Errorf("%w: %w", errHedgeLost, err)
		}
		return nil, err
	}
	cs.setDeadline(c)
	if err := writeRequest(c.bw, req); err != nil {
		return fail(stale(c, true, err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(stale(c, true, err))
	}
	c.lr.n = maxResponseHeader
	if _, err := c.br.Peek(1); err != nil {
		return fail(stale(c, false, cs.timeout(err)))
	}
	resp, err := readResponse(c.br, req)
	c.lr.n = -1
	if err != nil {
		return fail(cs.timeout(err))
	}
	if !intr.settle() {
		// Interrupted as the header arrived: its deadline is spoiled.
		stop()
		return nil, errHedgeLost
	}
	if resp.Body == http.NoBody {
		if !stop() {
			return nil, context.Cause(ctx)
		}
		if resp.Close || req.Close {
			c.nc.Close()
		} else {
			cs.put(c)
		}
		return resp, nil
	}
	if !c.deadlineAt.IsZero() && !bufferedWhole(resp, c.br) {
		// The body may take longer than the header: no deadline on it, as
		// with the Transport. A body already in the buffer cannot block.
		c.deadlineAt = time.Time{}
		c.nc.SetReadDeadline(c.deadlineAt)
	}
	resp.Body = &connBody{rc: resp.Body, c: c, cs: cs, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

// setDeadline bounds the wait for the response header. Moving a deadline
// takes a lock and a timer update, and under load a connection carries a
// request every few microseconds: the deadline is moved only once an eighth
// of the timeout has passed since it was set, so the header is awaited for
// between seven eighths of the timeout and all of it.
func (cs *conns) setDeadline(c *upstreamConn) {
	if cs.headerTimeout <= 0 {
		return
	}
	now := time.Now()
	if c.deadlineAt.Sub(now) > cs.headerTimeout-cs.headerTimeout/8 {
		return
	}
	c.deadlineAt = now.Add(cs.headerTimeout)
	c.nc.SetReadDeadline(c.deadlineAt)
}

// readResponse reads the final response to req, passing informational
// (1xx) responses to req's httptrace.ClientTrace, as the Transport does
// (httputil.ReverseProxy forwards them to the client this way).
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code >= 200 {
			return resp, nil
		}
		if code == http.StatusSwitchingProtocols || code < 100 {
			return nil, fmt.Errorf("unexpected response status %d to a request without upgrade", code)
		}
		if n >= max1xxResponses {
			return nil, fmt.Errorf("more than %d informational responses", max1xxResponses)
		}
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// bufferedWhole reports whether the whole body of resp is already in br.
func bufferedWhole(resp *http.Response, br *bufio.Reader) bool {
	return resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && int64(br.Buffered()) >= resp.ContentLength
}

// stale marks err as a staleError if c was used before and the error says
// the connection is gone.
func stale(c *upstreamConn, write bool, err error) error {
	if !c.reused || !connGone(err) {
		return err
	}
	return &staleError{err: err, nothingWritten: write}
}

// connGone reports whether err says the peer closed or reset the
// connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// timeout gives a read that hit the header deadline the message the
// Transport uses; it stays a net.Error whose Timeout is true.
func (cs *conns) timeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &headerTimeoutError{after: cs.headerTimeout, err: err}
	}
	return err
}

type headerTimeoutError struct {
	after time.Duration
	err   error
}

func (e *headerTimeoutError) Error() string {
	return "no response header within " + e.after.String()
}
func (e *headerTimeoutError) Unwrap() error   { return e.err }
func (e *headerTimeoutError) Timeout() bool   { return true }
func (e *headerTimeoutError) Temporary() bool { return true }

// aLongTimeAgo is a deadline in the past: it unblocks any read or write.
var aLongTimeAgo = time.Unix(1, 0)

// get returns an idle connection that is still open, or a new one. With
// check, or when it was idle for connStaleAfter, a connection is checked for
// a close by the target before it is returned. intr, if not nil, may
// interrupt a dial.
func (cs *conns) get(ctx context.Context, check bool, intr *interrupt) (*upstreamConn, error) {
	now := time.Now()
	for {
		cs.mu.Lock()
		n := len(cs.idle)
		if n == 0 {
			cs.mu.Unlock()
			break
		}
		c := cs.idle[n-1]
		cs.idle[n-1] = nil
		cs.idle = cs.idle[:n-1]
		cs.mu.Unlock()
		idle := now.Sub(c.idleAt)
		if (idle < connStaleAfter && !check) || (idle < connIdleTimeout && open(c.nc)) {
			c.reused = true
			return c, nil
		}
		c.nc.Close()
	}
	return cs.dialConn(ctx, intr)
}

// dialConn opens a new connection to the target; intr, if not nil, may
// interrupt the dial.
func (cs *conns) dialConn(ctx context.Context, intr *interrupt) (*upstreamConn, error) {
	if intr != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		if !intr.watchCancel(cancel) {
			return nil, errHedgeLost
		}
		defer intr.unwatchCancel()
	}
	nc, err := cs.dial(ctx, "tcp", cs.addr)
	if err != nil {
		if intr.fired() {
			return nil, fmt.Errorf("%w: %w", errHedgeLost, err)
		}
		return nil, err
	}
	c := &upstreamConn{nc: nc, lr: limitedReader{r: nc, n: -1}}
	c.br = bufio.NewReaderSize(&c.lr, connReadBufferBytes)
	c.bw = bufio.NewWriterSize(nc, connWriteBufferBytes)
	return c, nil
}

// put keeps c for the next request, or closes it if the pool is full or
// closed, or if the target sent more than the response (which the next
// request would take for its answer).
func (cs *conns) put(c *upstreamConn) {
	if c.br.Buffered() > 0 {
		c.nc.Close()
		return
	}
	c.idleAt = time.Now()
	cs.mu.Lock()
	if cs.closed || len(cs.idle) >= connMaxIdle {
		cs.mu.Unlock()
		c.nc.Close()
		return
	}
	cs.idle = append(cs.idle, c)
	cs.mu.Unlock()
}

// sweep closes the connections idle since before now - connIdleTimeout.
func (cs *conns) sweep(now time.Time) {
	cs.mu.Lock()
	var old []*upstreamConn
	keep := cs.idle[:0]
	for _, c := range cs.idle { // oldest first
		if now.Sub(c.idleAt) >= connIdleTimeout {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(cs.idle[len(keep):])
	cs.idle = keep
	cs.mu.Unlock()
	for _, c := range old {
		c.nc.Close()
	}
}

// close closes the idle connections, and the busy ones as they are put
// back. It is idempotent.
func (cs *conns) close() {
	cs.mu.Lock()
	cs.closed = true
	idle := cs.idle
	cs.idle = nil
	cs.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// open reports whether nc, an idle connection, is still open: nothing to
// read, no end of stream. It peeks without blocking.
func open(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true // cannot tell; a failure is caught as stale
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && alive
}

// connBody is a response body read from an upstreamConn. At the end of the
// body the connection goes back to its conns; closed before the end, it is
// closed, since what is left of the response cannot be skipped cheaply.
type connBody struct {
	rc   io.ReadCloser
	c    *upstreamConn
	cs   *conns
	stop func() bool // unregisters the context's cancellation
	keep bool        // the connection may be reused after the body
	done atomic.Bool // finish ran
}

// Read implements io.Reader.
func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

// Close implements io.Closer. It may be called from another goroutine to
// abort a Read.
func (b *connBody) Close() error {
	b.finish(false)
	return nil
}

// finish hands the connection back (eof: the body was read to its end) or
// closes it. Only the first call counts.
func (b *connBody) finish(eof bool) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	if b.stop() && eof && b.keep {
		b.cs.put(b.c)
		return
	}
	b.c.nc.Close()
}
