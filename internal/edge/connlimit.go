package edge

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnStats counts the edge's client connections, for metrics.
type ConnStats struct {
	// Open is the number of client connections open now.
	Open int
	// Limit is the most that may be open at once (Options.MaxConnections).
	Limit int
	// LimitReached counts the connections that found the limit reached
	// when they were accepted: each made an idle one close, or waited in
	// the kernel's backlog for a slot.
	LimitReached uint64
	// IdleClosed counts the idle keep-alive connections closed to make
	// room for new ones.
	IdleClosed uint64
	// AcceptErrors counts accepts that failed for lack of descriptors
	// (EMFILE, ENFILE): the limit is set higher than the process allows.
	AcceptErrors uint64
}

// connLimit caps the client connections of every listener of an edge.
// When all its slots are taken, the next accept first closes the
// connection that has been idle (kept alive between requests) the
// longest; if none is idle it waits for a connection to close, and new
// connections wait in the kernel's listen backlog meanwhile. A request
// already accepted is never failed for the limit's sake.
//
// The cap leaves descriptors for what the node needs besides its clients
// (connections to instances, health checks, etcd, cache and temp files),
// which would otherwise fail with "too many open files".
type connLimit struct {
	limit int
	slots chan struct{} // one element per open connection; never blocks a receive
	now   func() time.Time
	log   *slog.Logger
	full  rateLog // "limit reached" lines
	fails rateLog // "accept failed" lines

	reached    atomic.Uint64
	idleClosed atomic.Uint64
	acceptErrs atomic.Uint64

	waiting atomic.Int32  // accepts waiting for a slot
	idled   chan struct{} // a connection turned idle while accepts wait

	mu   sync.Mutex // guards idle and the list fields of every limitedConn
	idle connList   // idle connections, the longest idle first
}

func newConnLimit(limit int, log *slog.Logger) *connLimit {
	return &connLimit{
		limit: limit,
		slots: make(chan struct{}, limit), // elements of size 0: no memory for the capacity
		now:   time.Now,
		log:   log,
		full:  rateLog{every: time.Minute},
		fails: rateLog{every: time.Minute},
		idled: make(chan struct{}, 1),
	}
}

// stats returns the counters.
func (l *connLimit) stats() ConnStats {
	return ConnStats{
		Open: len(l.slots), Limit: l.limit,
		LimitReached: l.reached.Load(), IdleClosed: l.idleClosed.Load(), AcceptErrors: l.acceptErrs.Load(),
	}
}

// listener wraps ln so that its connections count against the limit.
func (l *connLimit) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, lim: l, closed: make(chan struct{})}
}

// acquire takes a slot for a connection just accepted. When none
// is free it closes the longest-idle connection, or, if none is idle,
// waits for a connection to close or turn idle (and closes that one). It
// returns false if closed is closed first.
func (l *connLimit) acquire(closed <-chan struct{}) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	l.reached.Add(1)
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	closedIdle := l.closeIdle()
	if ok, skipped := l.full.allow(l.now()); ok {
		l.log.Warn("edge connection limit reached", "limit", l.limit, "closed_idle", closedIdle, "idle_closed_total", l.idleClosed.Load(),
			"reached_total", l.reached.Load(), "not_logged", skipped)
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.idled:
			l.closeIdle()
		case <-closed:
			return false
		}
	}
}

// closeIdle closes the longest-idle connection, if any, and reports
// whether there was one. A request may arrive on it just as it closes;
// the client then retries it on a new connection, as after an idle
// timeout.
func (l *connLimit) closeIdle() bool {
	l.mu.Lock()
	c := l.idle.head
	if c != nil {
		l.idle.remove(c)
	}
	l.mu.Unlock()
	if c == nil {
		return false
	}
	l.idleClosed.Add(1)
	c.Close() // frees its slot
	return true
}

// acceptFailed counts and logs an accept that failed for lack of
// descriptors. The server retries the accept after a short pause.
func (l *connLimit) acceptFailed(err error) {
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return
	}
	l.acceptErrs.Add(1)
	if ok, skipped := l.fails.allow(l.now()); ok {
		l.log.Error("edge accept failed: out of file descriptors", "err", err, "open", len(l.slots), "limit", l.limit, "not_logged", skipped)
	}
}

// connState is the http.Server's ConnState hook: it keeps the list of
// idle connections.
func (l *connLimit) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		tc, isTLS := nc.(*tls.Conn)
		if !isTLS {
			return
		}
		if c, ok = tc.NetConn().(*limitedConn); !ok {
			return
		}
	}
	l.mu.Lock()
	if state != http.StateIdle {
		l.idle.remove(c)
		l.mu.Unlock()
		return
	}
	l.idle.pushBack(c)
	l.mu.Unlock()
	if l.waiting.Load() > 0 {
		select {
		case l.idled <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// limitedListener is a listener whose connections hold a slot of a
// connLimit each.
type limitedListener struct {
	net.Listener
	lim       *connLimit
	closed    chan struct{} // closed by Close: a waiting Accept gives up
	closeOnce sync.Once
}

// Accept accepts the next connection and takes a slot for it, waiting
// for one if need be: the connection is not served meanwhile, and the
// ones after it wait in the kernel's backlog.
func (ln *limitedListener) Accept() (net.Conn, error) {
	nc, err := ln.Listener.Accept()
	if err != nil {
		ln.lim.acceptFailed(err)
		return nil, err
	}
	if !ln.lim.acquire(ln.closed) {
		nc.Close()
		return nil, net.ErrClosed
	}
	return &limitedConn{Conn: nc, lim: ln.lim}, nil
}

func (ln *limitedListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.closed) })
	return ln.Listener.Close()
}

// limitedConn is a client connection holding a slot until it is closed.
type limitedConn struct {
	net.Conn
	lim      *connLimit
	released atomic.Bool

	// In the limit's idle list; guarded by lim.mu.
	prev, next *limitedConn
	listed     bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if !c.released.Swap(true) {
		c.lim.mu.Lock()
		c.lim.idle.remove(c)
		c.lim.mu.Unlock()
		<-c.lim.slots
	}
	return err
}

// connList is a doubly linked list of connections threaded through them.
type connList struct{ head, tail *limitedConn }

func (l *connList) pushBack(c *limitedConn) {
	if c.listed {
		l.remove(c)
	}
	c.prev, c.next, c.listed = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *limitedConn) {
	if !c.listed {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.listed = nil, nil, false
}
