package pgha

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// EndpointOptions configures an Endpoint. Zero durations and counts take
// the defaults named on each field.
type EndpointOptions struct {
	// Listen is the host:port apps connect to; required. It should be a
	// loopback address: the endpoint speaks plain TCP to its clients.
	Listen string
	// ReadOnly marks the endpoint behind DATABASE_READ_URL: every relayed
	// session starts with default_transaction_read_only=on (a guard
	// against mistakes, not a security boundary), and refusals speak of a
	// standby rather than of a primary.
	ReadOnly bool
	// ServerTLS, when not nil, makes every connection to a server TLS
	// (SSLRequest, then a handshake): the cluster's CA in RootCAs and this
	// node's client certificate in Certificates. An empty ServerName is
	// set per connection to the target's host. Nil: plain TCP.
	ServerTLS *tls.Config
	// Hold is how long a new connection waits for a target when there is
	// none (a failover or switchover in progress) before it is refused
	// with SQLSTATE 57P03. 0 refuses at once.
	Hold time.Duration
	// MaxConns caps the client connections open at once; default 500.
	// Beyond it, a connection is refused with SQLSTATE 53300.
	MaxConns int
	// StartupTimeout bounds reading a client's startup packet, encryption
	// requests included; default 10s. A client that sends nothing is
	// closed when it runs out.
	StartupTimeout time.Duration
	// DialTimeout bounds connecting to the target, TLS handshake included;
	// default 3s.
	DialTimeout time.Duration
	// AuthTimeout bounds authentication through the endpoint, from the
	// relayed startup message to the server's first ReadyForQuery;
	// default 30s.
	AuthTimeout time.Duration
	// Logger receives the endpoint's events; nil discards them.
	Logger *slog.Logger
}

// Defaults of EndpointOptions.
const (
	DefaultEndpointMaxConns       = 500
	DefaultEndpointStartupTimeout = 10 * time.Second
	DefaultEndpointDialTimeout    = 3 * time.Second
	DefaultEndpointAuthTimeout    = 30 * time.Second
)

// maxRejecting bounds the connections beyond MaxConns that are being told
// so; past it, further connections are closed without a word.
const maxRejecting = 32

// Endpoint is a node's database endpoint: a local TCP address that relays
// PostgreSQL connections to the current target (the primary, or a standby
// for a read endpoint). It reads a client's startup packet, dials the
// target, relays the startup message and then copies bytes both ways,
// parsing the server's messages only until authentication ends (to learn
// the backend key that cancel requests name). With no target it answers
// SQLSTATE 57P03 instead of hanging, and when the target changes it closes
// every connection relayed to the old one at once.
//
// NewEndpoint binds nothing; Listen binds; Run serves until its context
// ends. SetTarget, Addr and Stats are safe from any goroutine.
type Endpoint struct {
	opts EndpointOptions
	log  *slog.Logger

	slots     chan struct{} // one per open client connection, MaxConns in all
	rejecting chan struct{} // one per connection being refused as too many
	wg        sync.WaitGroup
	stats     endpointCounters
	// lastDialWarn is when an unreachable target was last logged as a
	// warning (Unix nanoseconds).
	lastDialWarn atomic.Int64

	mu       sync.Mutex // guards the fields below and every session's state
	ln       net.Listener
	target   string
	changed  chan struct{} // closed and replaced when target changes
	sessions map[*session]struct{}
	keys     map[backendKey]*session
	closed   bool // Run is ending: no new sessions
}

// NewEndpoint checks opts and returns an Endpoint with no target. It binds
// nothing.
func NewEndpoint(opts EndpointOptions) (*Endpoint, error) {
	if opts.Listen == "" {
		return nil, errors.New("new database endpoint: Listen is required")
	}
	if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
		return nil, fmt.Errorf("new database endpoint: Listen: %w", err)
	}
	if opts.Hold < 0 || opts.MaxConns < 0 || opts.StartupTimeout < 0 || opts.DialTimeout < 0 || opts.AuthTimeout < 0 {
		return nil, errors.New("new database endpoint: durations and MaxConns must not be negative")
	}
	setDefault(&opts.MaxConns, DefaultEndpointMaxConns)
	setDefault(&opts.StartupTimeout, DefaultEndpointStartupTimeout)
	setDefault(&opts.DialTimeout, DefaultEndpointDialTimeout)
	setDefault(&opts.AuthTimeout, DefaultEndpointAuthTimeout)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	role := "primary"
	if opts.ReadOnly {
		role = "standby"
	}
	return &Endpoint{
		opts:      opts,
		log:       log.With("endpoint", role),
		slots:     make(chan struct{}, opts.MaxConns),
		rejecting: make(chan struct{}, maxRejecting),
		changed:   make(chan struct{}),
		sessions:  make(map[*session]struct{}),
		keys:      make(map[backendKey]*session),
	}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Listen binds the endpoint's address. Run calls it when it has not been
// called; calling it first lets the caller learn Addr before serving.
func (e *Endpoint) Listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln != nil {
		return errors.New("listen database endpoint: already listening")
	}
	ln, err := net.Listen("tcp", e.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen database endpoint: %w", err)
	}
	e.ln = ln
	return nil
}

// Close closes the listener of an endpoint that was bound but will not
// run (its node failed to start). Run closes it itself.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return nil
	}
	return e.ln.Close()
}

// Addr returns the bound address, or nil before Listen.
func (e *Endpoint) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return nil
	}
	return e.ln.Addr()
}

// SetTarget routes new connections to addr (host:port); "" means there is
// no target, and new connections are held, then refused with 57P03. Every
// connection already relayed to another address is closed at once: the old
// primary may be a demoted one still running. Setting the current target
// again changes nothing.
func (e *Endpoint) SetTarget(addr string) {
	e.mu.Lock()
	old := e.target
	if addr == old {
		e.mu.Unlock()
		return
	}
	e.target = addr
	close(e.changed)
	e.changed = make(chan struct{})
	var sever []*session
	for s := range e.sessions {
		if s.server != nil && !s.closed && s.target != addr {
			sever = append(sever, s)
		}
	}
	e.mu.Unlock()
	for _, s := range sever {
		e.closeSession(s)
	}
	e.stats.severed.Add(uint64(len(sever)))
	e.log.Info("database endpoint target changed", "from", old, "to", addr, "closed", len(sever))
}

// Target returns the current target; "" when there is none.
func (e *Endpoint) Target() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

// Run accepts and relays connections until ctx ends, then closes the
// listener and every connection and returns once all its goroutines have
// exited. It listens first if Listen was not called. It returns nil when
// ctx ended, or the error that stopped accepting.
func (e *Endpoint) Run(ctx context.Context) error {
	if e.Addr() == nil {
		if err := e.Listen(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	e.log.Info("database endpoint listening", "addr", ln.Addr().String())

	err := e.accept(ctx, ln)
	cancel()
	ln.Close()
	e.shutdown()
	e.wg.Wait()
	return err
}

// accept hands each connection to a goroutine of its own, within MaxConns.
func (e *Endpoint) accept(ctx context.Context, ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !isTemporary(err) {
				return fmt.Errorf("accept database connection: %w", err)
			}
			// Out of file descriptors, for instance: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			e.log.Warn("database endpoint accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		backoff = 0
		e.stats.accepted.Add(1)
		select {
		case e.slots <- struct{}{}:
			e.wg.Go(func() {
				defer func() { <-e.slots }()
				e.serve(ctx, c)
			})
		default:
			e.refuseFull(ctx, c)
		}
	}
}

// isTemporary reports accept errors worth waiting out: a timeout, or
// running out of file descriptors or buffers.
func isTemporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// refuseFull answers a connection beyond MaxConns with 53300, as
// PostgreSQL does, in a bounded pool of goroutines; beyond that pool the
// connection is closed without a word. A cancel request is still
// forwarded: cancelling queries is what a full endpoint needs most.
func (e *Endpoint) refuseFull(ctx context.Context, c net.Conn) {
	e.stats.refusedFull.Add(1)
	select {
	case e.rejecting <- struct{}{}:
	default:
		c.Close()
		return
	}
	e.wg.Go(func() {
		defer func() { <-e.rejecting }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(min(e.opts.StartupTimeout, time.Second)))
		st, err := readStartupNegotiating(c)
		if err != nil {
			return
		}
		switch m := st.msg.(type) {
		case *pgproto3.CancelRequest:
			e.forwardCancel(ctx, m, st.raw)
		case *pgproto3.StartupMessage:
			writeError(c, codeTooManyConns, "sorry, too many clients already",
				fmt.Sprintf("tandem's database endpoint has %d connections open, its limit.", e.opts.MaxConns), "")
		}
	})
}

// shutdown refuses new sessions and closes every open one.
func (e *Endpoint) shutdown() {
	e.mu.Lock()
	e.closed = true
	all := make([]*session, 0, len(e.sessions))
	for s := range e.sessions {
		all = append(all, s)
	}
	e.mu.Unlock()
	for _, s := range all {
		e.closeSession(s)
	}
}

// EndpointStats are an Endpoint's counters, for metrics. Counts since
// NewEndpoint unless marked "now".
type EndpointStats struct {
	Open          int64  // client connections open now, in any phase
	Relaying      int64  // connections relayed to a server now
	Waiting       int64  // connections held now, waiting for a target
	Accepted      uint64 // client connections accepted
	Relayed       uint64 // connections relayed to a server (startup sent)
	BytesToServer uint64 // relayed from clients to servers
	BytesToClient uint64 // relayed from servers to clients
	// RefusedNoTarget counts connections answered 57P03: no target after
	// Hold, or the target could not be reached.
	RefusedNoTarget uint64
	RefusedFull     uint64 // connections beyond MaxConns (answered 53300 or closed)
	BadStartup      uint64 // connections closed for a missing, late or malformed startup packet
	Severed         uint64 // relayed connections closed because the target changed
	Cancels         uint64 // cancel requests forwarded to a server
}

// endpointCounters are the atomics behind EndpointStats.
type endpointCounters struct {
	open, relaying, waiting                           atomic.Int64
	accepted, relayed, toServer, toClient             atomic.Uint64
	refusedNoTarget, refusedFull, badStartup, severed atomic.Uint64
	cancels                                           atomic.Uint64
}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() EndpointStats {
	c := &e.stats
	return EndpointStats{
		Open: c.open.Load(), Relaying: c.relaying.Load(), Waiting: c.waiting.Load(),
		Accepted: c.accepted.Load(), Relayed: c.relayed.Load(),
		BytesToServer: c.toServer.Load(), BytesToClient: c.toClient.Load(),
		RefusedNoTarget: c.refusedNoTarget.Load(), RefusedFull: c.refusedFull.Load(),
		BadStartup: c.badStartup.Load(), Severed: c.severed.Load(), Cancels: c.cancels.Load(),
	}
}

// DatabaseURL is the connection URL apps get for an endpoint at hostport
// (DATABASE_URL, DATABASE_READ_URL). It says sslmode=disable: the endpoint
// is reached over loopback and answers every SSLRequest with 'N', so a
// client left at sslmode=prefer would open each connection twice.
func DatabaseURL(hostport, user, password, database string) string {
	u := url.URL{Scheme: "postgres", Host: hostport, Path: "/" + database, RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// relayBuffer is the size of each direction's copy buffer.
const relayBuffer = 16 << 10

// pipe copies src to dst until either fails, adding what it copied to n
// as it goes, so that the counters move while a connection lives.
func pipe(dst, src net.Conn, n *atomic.Uint64) {
	buf := make([]byte, relayBuffer)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
			n.Add(uint64(k))
		}
		if err != nil {
			return
		}
	}
}
