package edge

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// exchange is what the edge learns about one request as it passes through;
// the access log writes it out. One is allocated per request (with its
// recorder, see inflight) and reached through the request's context.
type exchange struct {
	id       string
	idField  [1]string // backs the X-Request-Id response field: one allocation fewer
	start    time.Time
	peer     netip.Addr // the TCP peer; invalid if RemoteAddr is not an address
	trusted  bool       // peer is a trusted proxy
	clientIP netip.Addr
	app      string
	route    string                 // the matched route's label (Route.label); "" if none
	cached   bool                   // the matched route goes through the cache
	span     *telemetry.RequestSpan // nil when tracing is off
	body     *clientBody            // the request's body; nil if it has none
	gone     atomic.Bool            // the client went away: the request is recorded as 499

	// The proxy may run on a goroutine the cache owns, even after the
	// client's handler returned (a background revalidation), hence:
	mu       sync.Mutex    // guards the fields below
	upstream string        // address of the instance that answered, if any
	errKind  string        // why the edge answered itself, if it did
	sent     time.Time     // when the request was handed to the app's balancer
	waited   time.Duration // from sent to the app's response headers
}

// setSent records that the request goes to the app now.
func (x *exchange) setSent(at time.Time) {
	x.mu.Lock()
	x.sent = at
	x.mu.Unlock()
}

// setUpstream records the instance that answered, when its response
// headers arrived.
func (x *exchange) setUpstream(addr string, at time.Time) {
	x.mu.Lock()
	x.upstream = addr
	if !x.sent.IsZero() {
		x.waited = at.Sub(x.sent)
	}
	x.mu.Unlock()
}

func (x *exchange) setError(kind string) {
	x.mu.Lock()
	x.errKind = kind
	x.mu.Unlock()
}

// outcome returns the upstream, the wait for it and the error kind
// recorded so far.
func (x *exchange) outcome() (upstream string, waited time.Duration, errKind string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.upstream, x.waited, x.errKind
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// inflight is what the middleware allocates per request: the exchange
// and the recorder are made at once, in one allocation. (A background
// fetch that still holds the exchange keeps the small recorder with it.)
type inflight struct {
	x    exchange
	rec  recorder
	body clientBody // the request's body, if it has one
}

// middleware wraps next with what every request gets, in order: request
// id, client address, size limits, the access log and the observer.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &inflight{x: exchange{start: time.Now()}, rec: recorder{ResponseWriter: w, s: s}}
		x, rec := &in.x, &in.rec
		rec.id = x.idField[:]
		s.identify(r, x)
		// The id goes back to the client; the proxy sends it to the app
		// from the exchange, so a request the cache answers never needs
		// it in its own header.
		x.idField[0] = x.id
		w.Header()[requestIDHeader] = x.idField[:]

		ctx := r.Context()
		if s.tracer != nil {
			ctx, x.span = s.tracer.StartRequest(r, x.clientIP, x.peer)
		}
		r = r.WithContext(context.WithValue(ctx, exchangeKey{}, x))
		defer func() {
			abandoned(r, x, rec)
			endSpan(x, rec)
			s.finish(r, x, rec)
		}()

		if r.ContentLength > s.opts.MaxBodyBytes {
			x.setError("body_too_large")
			s.writeError(rec, r, http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			s.guardBody(w, r, in)
		}
		next.ServeHTTP(rec, r)
	})
}

// guardBody puts the request's body behind its size limit and its
// deadlines. The limit is given the server's own writer, so that a body
// over it also closes the connection.
func (s *Server) guardBody(w http.ResponseWriter, r *http.Request, in *inflight) {
	in.body = clientBody{
		rc:   http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes),
		ctl:  *http.NewResponseController(w),
		pace: bodyPace{timeout: s.opts.BodyTimeout, minRate: s.opts.BodyMinRate, start: in.x.start},
	}
	r.Body, in.x.body = &in.body, &in.body
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		// RFC 9112 §6.1: a request with both Transfer-Encoding and
		// Content-Length is answered, then its connection closed, lest
		// the two framings hide a second request. net/http drops the
		// Content-Length before a handler can see it, so every chunked
		// request closes its connection: they are rare (browsers never
		// send one over HTTP/1.1).
		in.rec.Header()["Connection"] = []string{"close"}
	}
}

// abandoned records a request whose client left before its answer was
// complete as 499, as nginx does, whatever status had been written to
// the closed connection: a hung app then shows in the access log and the
// metrics rather than passing for a success. Upgraded connections, whose
// requests end when the connection does, are left as they are.
func abandoned(r *http.Request, x *exchange, rec *recorder) {
	if rec.status == http.StatusSwitchingProtocols {
		return
	}
	if !x.gone.Load() {
		if r.Context().Err() == nil {
			return // the common case: no lock taken
		}
		if _, _, kind := x.outcome(); kind != "" {
			// The edge answered for a reason of its own (a body too
			// slow breaks the connection too): that is what is recorded.
			return
		}
		x.setError("client_closed")
	}
	rec.status = statusClientClosed
}

// identify sets the request's peer, id and client address: a trusted
// proxy's valid X-Request-Id is kept, any other request gets a new one.
// The peer is parsed here once for the request (the proxy's forwarding
// fields use it too). Header fields are read by their canonical keys,
// without Header.Get's canonicalisation.
func (s *Server) identify(r *http.Request, x *exchange) {
	x.peer = parseHostIP(r.RemoteAddr)
	x.trusted = x.peer.IsValid() && s.trusted.trusts(x.peer)
	if x.trusted {
		if v := r.Header[requestIDHeader]; len(v) > 0 && validRequestID(v[0]) {
			x.id = v[0]
		}
	}
	if x.id == "" {
		x.id = newRequestID()
	}
	x.clientIP = s.trusted.clientOf(x.peer, x.trusted, r.Header["X-Forwarded-For"])
}

// route answers purges, and hands every other request to the route its
// host and path map to.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	x := exchangeFrom(r.Context())
	if isPurge(r) {
		s.purge(w, r)
		return
	}
	if b := s.builtins.match(r.URL.Path); b != nil {
		x.route = b.label
		b.handler.ServeHTTP(w, r)
		return
	}
	rt, ok := s.routes.match(r.Host, r.URL.Path)
	if !ok {
		x.setError("no_route")
		s.writeError(w, r, http.StatusNotFound)
		return
	}
	x.app, x.route, x.cached = rt.App, rt.label, rt.cached
	if s.opts.Observer != nil {
		s.opts.Observer.RequestStarted(rt.App)
	}
	x.span.SetRoute(rt.Path)
	if !rt.StreamBody && r.Body != nil && r.Body != http.NoBody {
		// Read the whole body before an instance is picked.
		b, err := s.bodies.read(r.Body, r.ContentLength)
		if err != nil {
			s.answerError(w, r, err)
			return
		}
		defer b.release()
		b.attach(r)
	}
	rt.handler.ServeHTTP(w, r)
}

// recorder remembers the status and size of a response for the access
// log, and tracks hijacked connections for shutdown.
type recorder struct {
	http.ResponseWriter
	s           *Server
	status      int
	bytes       int64
	wroteHeader bool
	interim     bool     // a 1xx was written before the final status
	id          []string // the X-Request-Id field's value (exchange.idField)
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
		r.wroteHeader = true
		if r.interim {
			// The reverse proxy clears the header after relaying a 1xx:
			// the final response carries the request id again.
			r.Header()[requestIDHeader] = r.id
		}
	} else if !r.wroteHeader {
		r.interim = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status = http.StatusOK
		r.wroteHeader = true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Flush is called by the reverse proxy for streamed responses.
func (r *recorder) Flush() {
	http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack hands the connection over (WebSocket upgrades) and keeps track
// of it so that shutdown can close it.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if !r.wroteHeader {
		r.status = http.StatusSwitchingProtocols
		r.wroteHeader = true
	}
	return r.s.trackHijacked(c), rw, nil
}

// Unwrap lets http.ResponseController reach the connection's writer for
// deadlines and full-duplex.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
