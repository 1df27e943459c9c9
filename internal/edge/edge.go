// Package edge owns the HTTP front door of a node: the listeners (HTTP/1.1,
// and HTTP/2 over TLS) and the cap on their connections (connLimit), the
// middleware every request passes (request id, client address from trusted
// proxies, size limits and body deadlines, access log, trace span), the
// routing table from host and path to app, the request bodies read in full
// before an app gets them (bodyStore), the reverse proxy that hands a
// request to the app's balancer, and the handover of the listening sockets
// to a new binary of tandem (ListenerFiles, Handover, Options.Inherited).
//
// The edge knows nothing about instances: each app is an http.RoundTripper
// (a balance.Pool) given in Options.Upstreams. What the edge answers when no
// instance can, and which status it uses, is decided in one place:
// errorStatus.
package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a node's edge. Create it with New, bind with Listen, then Run.
type Server struct {
	opts    Options
	log     *slog.Logger
	trusted trustedProxies
	tracer  Tracer // nil when tracing is off
	routes  *routeTable
	apps    map[string]http.Handler // the reverse proxy of each app
	buffers bufferPool              // copy buffers shared by the proxies
	bodies  *bodyStore              // request bodies read before the app gets them
	conns   *connLimit
	fdLimit uint64  // the open-file limit when New ran
	stored  rateLog // "cannot buffer request body" lines
	handler http.Handler

	builtins builtins // served before the routes, on every host
	// draining is set while Run drains for a handover: every response
	// asks its client to close the connection (see Handover).
	draining atomic.Bool
	// handover takes Handover's requests; Run answers them.
	handover chan handoverRequest
	// ran is closed when Run returns.
	ran chan struct{}

	mu        sync.Mutex // guards the fields below
	listeners []listener
	hijacked  map[net.Conn]struct{}
	running   bool
}

type listener struct {
	name string       // ListenerHTTP or ListenerTLS
	raw  net.Listener // the listening socket, unwrapped
	ln   net.Listener // raw behind the connection limit (and TLS)
	srv  *http.Server
}

// New checks opts and builds the handler chain. It binds nothing.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" && opts.TLS == nil {
		return nil, errors.New("new edge: no listener configured")
	}
	setDefaults(&opts)
	if opts.BodyBuffer > MaxBodyBuffer {
		return nil, fmt.Errorf("new edge: body buffer %d bytes: at most %d", opts.BodyBuffer, MaxBodyBuffer)
	}
	fdLimit, err := openFileLimit()
	if err != nil {
		return nil, fmt.Errorf("new edge: %w", err)
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = defaultMaxConnections(fdLimit)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		trusted:  trustedProxies(opts.TrustedProxies),
		tracer:   opts.Tracer,
		apps:     make(map[string]http.Handler, len(opts.Upstreams)),
		conns:    newConnLimit(opts.MaxConnections, opts.Logger),
		fdLimit:  fdLimit,
		stored:   rateLog{every: time.Minute},
		hijacked: make(map[net.Conn]struct{}),
		handover: make(chan handoverRequest),
		ran:      make(chan struct{}),
	}
	s.bodies = newBodyStore(&opts, &s.buffers)
	if s.builtins, err = newBuiltins(opts.Builtins); err != nil {
		return nil, fmt.Errorf("new edge: %w", err)
	}
	for _, r := range opts.Routes {
		if _, ok := opts.Upstreams[r.App]; !ok {
			return nil, fmt.Errorf("new edge: route %s%s: no upstream for app %q", r.Host, r.Path, r.App)
		}
	}
	for app, rt := range opts.Upstreams {
		s.apps[app] = s.newProxy(app, rt)
	}
	routes := make([]Route, len(opts.Routes))
	for i, r := range opts.Routes {
		r.handler = s.apps[r.App]
		if r.StripPath {
			r.handler = stripPrefix(r.Path, r.handler)
		}
		if r.Fallback != nil {
			r.handler = r.Fallback.wrap(r.handler)
		}
		r.label = routeLabel(r.Host, r.Path)
		if r.Cache != nil && opts.Cache != nil {
			h, err := opts.Cache.Handler(*r.Cache, s.markForward(r.handler))
			if err != nil {
				return nil, fmt.Errorf("new edge: route %s%s: cache: %w", r.Host, r.Path, err)
			}
			r.handler, r.cached = s.traceLookup(h), true
		}
		r.handler = gateFront(opts.Upstreams[r.App], r.handler)
		routes[i] = r
	}
	s.routes = newRouteTable(routes)
	s.handler = s.middleware(http.HandlerFunc(s.route))
	return s, nil
}

// Handler returns the edge's whole handler chain, for tests and for
// embedding the edge behind another listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the configured addresses, so that a port already in use is
// reported before anything else starts; or takes the listeners of
// Options.Inherited.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) > 0 {
		return errors.New("edge: already listening")
	}
	if err := s.bodies.prepare(); err != nil {
		return fmt.Errorf("listen edge: %w", err)
	}
	s.checkConnLimit()
	if s.opts.Listen != "" {
		ln, err := s.bind(ListenerHTTP, s.opts.Listen)
		if err != nil {
			return fmt.Errorf("listen edge: %w", err)
		}
		s.listeners = append(s.listeners, listener{name: ListenerHTTP, raw: ln, ln: s.conns.listener(ln), srv: s.newHTTPServer(nil)})
	}
	if t := s.opts.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			s.closeListenersLocked()
			return fmt.Errorf("listen edge tls: load certificate: %w", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		ln, err := s.bind(ListenerTLS, t.Listen)
		if err != nil {
			s.closeListenersLocked()
			return fmt.Errorf("listen edge tls: %w", err)
		}
		s.listeners = append(s.listeners, listener{name: ListenerTLS, raw: ln, ln: tls.NewListener(s.conns.listener(ln), cfg), srv: s.newHTTPServer(cfg)})
	}
	return nil
}

func (s *Server) closeListenersLocked() {
	for _, l := range s.listeners {
		l.ln.Close()
	}
	s.listeners = nil
}

// checkConnLimit logs the connection limit, and warns when it leaves too
// few descriptors for the rest of the node.
func (s *Server) checkConnLimit() {
	limit := uint64(s.opts.MaxConnections)
	if limit > s.fdLimit-s.fdLimit/4 {
		s.log.Warn("edge connection limit leaves few descriptors for instances, health checks and etcd",
			"max_connections", limit, "open_file_limit", s.fdLimit)
		return
	}
	s.log.Info("edge connection limit", "max_connections", limit, "open_file_limit", s.fdLimit)
}

// Connections returns the counts of client connections.
func (s *Server) Connections() ConnStats { return s.conns.stats() }

// Bodies returns how request bodies are held.
func (s *Server) Bodies() BodyStats { return s.bodies.stats() }

// Addrs returns the bound addresses, plain HTTP first; nil before Listen.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var addrs []net.Addr
	for _, l := range s.listeners {
		addrs = append(addrs, l.ln.Addr())
	}
	return addrs
}

func (s *Server) newHTTPServer(cfg *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           s.closingWhenDraining(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		TLSConfig:         cfg,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState:         s.conns.connState,
	}
	if cfg != nil {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
	}
	return srv
}

// Run serves until ctx ends, then stops accepting, lets in-flight requests
// finish within ShutdownTimeout, closes what is left (hijacked connections
// such as WebSockets included) and returns. After a Handover it returns
// once the drain Handover asked for is done. Listen must have been called.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if len(s.listeners) == 0 {
		s.mu.Unlock()
		return errors.New("run edge: Listen was not called")
	}
	if s.running {
		s.mu.Unlock()
		return errors.New("run edge: already running")
	}
	s.running = true
	listeners := s.listeners
	s.mu.Unlock()
	defer close(s.ran)

	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		s.log.Info("edge listening", "addr", l.ln.Addr().String(), "tls", l.srv.TLSConfig != nil)
		go func() {
			err := l.srv.Serve(l.ln)
			if errors.Is(err, http.ErrServerClosed) || s.draining.Load() && errors.Is(err, net.ErrClosed) {
				err = nil // stopped, or closed by a handover
			}
			errc <- err
		}()
	}
	var serveErr error
	pending := len(listeners)
	select {
	case <-ctx.Done():
		s.shutdown(listeners)
	case req := <-s.handover:
		s.drainForHandover(listeners, req.drain)
		close(req.done)
	case serveErr = <-errc:
		pending--
		s.shutdown(listeners)
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if serveErr != nil {
		return fmt.Errorf("serve edge: %w", serveErr)
	}
	return nil
}

// shutdown drains every listener's server within ShutdownTimeout.
func (s *Server) shutdown(listeners []listener) {
	s.log.Info("edge draining", "timeout", s.opts.ShutdownTimeout.String())
	s.drainUntil(listeners, time.Now().Add(s.opts.ShutdownTimeout))
	s.log.Info("edge stopped")
}

// drainUntil shuts every listener's server down: the requests in flight
// may finish until deadline; then what is left is closed, hijacked
// connections last.
func (s *Server) drainUntil(listeners []listener, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				s.log.Warn("edge drain deadline reached, closing connections", "err", err)
				l.srv.Close()
			}
		})
	}
	wg.Wait()
	// Hijacked connections (WebSockets) are invisible to Shutdown: close
	// them last, after every plain request has had its chance to finish.
	s.mu.Lock()
	for c := range s.hijacked {
		c.Close()
	}
	s.mu.Unlock()
}

// trackHijacked records a hijacked connection so shutdown can close it.
func (s *Server) trackHijacked(c net.Conn) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hijacked[c] = struct{}{}
	return &trackedConn{Conn: c, s: s}
}

type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.hijacked, c.Conn)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// Close releases the listeners of a server that will not Run. It does
// nothing once Run has started: Run stops when its context ends.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.closeListenersLocked()
	}
}
