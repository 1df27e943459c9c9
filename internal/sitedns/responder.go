package sitedns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// Options configure a Responder.
type Options struct {
	Zone        string       // the zone's apex, e.g. "go.example.com"
	Names       []string     // the names answered with the serving site's addresses, in the zone
	NameServers []NameServer // the zone's NS records; at least one
	Hostmaster  string       // the SOA's contact, a mail address
	// TTL is the time to live of every record and of negative answers;
	// whole seconds.
	TTL time.Duration
	// Listen is the host:port queries arrive at, over UDP and TCP. Port 0
	// picks a port free for both (see Addr).
	Listen string
	// Sites says which sites serve now, and Addresses where they are;
	// both required.
	Sites     Sites
	Addresses Addresses
	// RateLimit is the answers per second per client network over UDP;
	// 0 sets none.
	RateLimit int
	// MaxTCPConns caps the TCP connections open at once; past it new ones
	// wait in the kernel's backlog. Default 256.
	MaxTCPConns int
	// Logger receives the responder's events; nil discards them.
	Logger *slog.Logger
	// Now is the limiter's clock; nil means time.Now.
	Now func() time.Time
}

// shutdownTimeout bounds how long Run waits for queries in flight.
const shutdownTimeout = 5 * time.Second

// Responder answers DNS queries for one zone over UDP and TCP. Create it
// with New, bind with Listen, serve with Run.
type Responder struct {
	opts    Options
	zone    *zone
	limiter *limiter
	log     *slog.Logger
	stats   counters
	site    atomic.Pointer[string] // the site answered last, to log changes

	mu  sync.Mutex // guards the fields below
	udp net.PacketConn
	tcp net.Listener
	ran bool
}

// New checks opts and builds the zone. It binds nothing.
func New(opts Options) (*Responder, error) {
	if opts.Sites == nil || opts.Addresses == nil {
		return nil, errors.New("new dns responder: Sites and Addresses are required")
	}
	z, err := newZone(opts.Zone, opts.Names, opts.NameServers, opts.Hostmaster, opts.TTL)
	if err != nil {
		return nil, fmt.Errorf("new dns responder: %w", err)
	}
	if opts.MaxTCPConns <= 0 {
		opts.MaxTCPConns = 256
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Responder{opts: opts, zone: z, limiter: newLimiter(opts.RateLimit, opts.Now), log: log}, nil
}

// Listen binds the UDP and TCP sockets, so that a port in use is reported
// before anything else starts.
func (r *Responder) Listen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.udp != nil {
		return errors.New("dns responder: already listening")
	}
	host, port, err := net.SplitHostPort(r.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen dns %q: %w", r.opts.Listen, err)
	}
	// With port 0 the TCP port is picked first and UDP takes the same
	// number; another program may hold it over UDP, so try a few.
	for range 10 {
		tcp, err := net.Listen("tcp", r.opts.Listen)
		if err != nil {
			return fmt.Errorf("listen dns tcp: %w", err)
		}
		addr := net.JoinHostPort(host, strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port))
		udp, err := net.ListenPacket("udp", addr)
		if err == nil {
			r.tcp, r.udp = netutil.LimitListener(tcp, r.opts.MaxTCPConns), udp
			return nil
		}
		tcp.Close()
		if port != "0" {
			return fmt.Errorf("listen dns udp: %w", err)
		}
	}
	return fmt.Errorf("listen dns %q: no port free over both UDP and TCP", r.opts.Listen)
}

// Addr returns the bound address, the same port over UDP and TCP; "" before
// Listen.
func (r *Responder) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tcp == nil {
		return ""
	}
	return r.tcp.Addr().String()
}

// Close releases the sockets of a responder that will not Run.
func (r *Responder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ran && r.udp != nil {
		r.udp.Close()
		r.tcp.Close()
	}
}

// Run serves until ctx ends, then lets the queries in flight finish (a
// bounded time) and returns. Listen must have been called. A socket that
// fails stops both and is returned.
func (r *Responder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.udp == nil || r.ran {
		r.mu.Unlock()
		return errors.New("run dns responder: Listen was not called, or Run was")
	}
	r.ran = true
	servers := []*dns.Server{
		r.server(&dns.Server{PacketConn: r.udp, Net: "udp", UDPSize: udpSize}),
		r.server(&dns.Server{Listener: r.tcp, Net: "tcp"}),
	}
	r.mu.Unlock()

	started := make(chan struct{}, len(servers))
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for _, s := range servers {
		s.NotifyStartedFunc = func() { started <- struct{}{} }
		wg.Go(func() { errc <- s.ActivateAndServe() })
	}
	r.log.Info("dns responder listening", "addr", r.Addr(), "zone", r.zone.apex)
	var err error
	for range servers { // ShutdownContext may only follow the start
		select {
		case <-started:
		case err = <-errc:
		}
	}
	if err == nil {
		select {
		case <-ctx.Done():
		case err = <-errc:
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, s := range servers {
		_ = s.ShutdownContext(sctx) // "not started" for the one that failed: nothing to stop
	}
	wg.Wait()
	r.log.Info("dns responder stopped")
	if err != nil {
		return fmt.Errorf("serve dns: %w", err)
	}
	return nil
}

// server sets what both servers share.
func (r *Responder) server(s *dns.Server) *dns.Server {
	s.Handler = r
	s.ReadTimeout = 2 * time.Second
	s.WriteTimeout = 2 * time.Second
	s.IdleTimeout = func() time.Duration { return 10 * time.Second }
	return s
}

// ServeDNS answers one query; the dns servers call it.
func (r *Responder) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	r.stats.queries.Add(1)
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if !tcp {
		switch r.limiter.check(addrOf(w.RemoteAddr())) {
		case drop:
			r.stats.limited.Add(1)
			return
		case truncate:
			r.stats.limited.Add(1)
			m := new(dns.Msg)
			m.SetReply(req)
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
	}
	m := r.zone.respond(req, tcp, r.targets)
	r.stats.count(m)
	if err := w.WriteMsg(m); err != nil {
		r.stats.writeErrors.Add(1)
	}
}

// targets returns the addresses of the first serving site that has any.
func (r *Responder) targets() []netip.Addr {
	for _, site := range r.opts.Sites.Serving() {
		if addrs := r.opts.Addresses.SiteAddrs(site); len(addrs) > 0 {
			r.noteSite(site, addrs)
			return addrs
		}
	}
	r.noteSite("", nil)
	return nil
}

// noteSite logs when the answers move to another site, or stop.
func (r *Responder) noteSite(site string, addrs []netip.Addr) {
	if prev := r.site.Load(); prev != nil && *prev == site {
		return
	}
	if prev := r.site.Swap(&site); prev != nil && *prev == site {
		return // another query logged it
	}
	if site == "" {
		r.log.Warn("dns: no site serves; answering SERVFAIL")
		return
	}
	r.log.Info("dns: answering with a site's addresses", "site", site, "addrs", slices.Clone(addrs))
}

// addrOf returns the IP address of a network address; invalid if it has
// none.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
