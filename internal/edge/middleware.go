package edge

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// exchange is what the edge learns about one request as it passes through;
// the access log writes it out. One is allocated per request and reached
// through the request's context.
type exchange struct {
	id       string
	start    time.Time
	clientIP netip.Addr
	app      string
	trace    *requestTrace // nil when tracing is off

	// The proxy may run on a goroutine the cache owns, even after the
	// client's handler returned (a background revalidation), hence:
	mu       sync.Mutex // guards the fields below
	upstream string     // address of the instance that answered, if any
	errKind  string     // why the edge answered itself, if it did
}

func (x *exchange) setUpstream(addr string) {
	x.mu.Lock()
	x.upstream = addr
	x.mu.Unlock()
}

func (x *exchange) setError(kind string) {
	x.mu.Lock()
	x.errKind = kind
	x.mu.Unlock()
}

// outcome returns the upstream and error kind recorded so far.
func (x *exchange) outcome() (upstream, errKind string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.upstream, x.errKind
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// middleware wraps next with what every request gets, in order: request
// id, client address, size limits and the access log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{start: time.Now()}
		peerTrusted := s.trusted.trusts(parseHostIP(r.RemoteAddr))
		x.id = r.Header.Get(requestIDHeader)
		if !peerTrusted || !validRequestID(x.id) {
			x.id = newRequestID()
			r.Header.Set(requestIDHeader, x.id)
		}
		x.clientIP = s.trusted.clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		w.Header().Set(requestIDHeader, x.id)

		rec := &recorder{ResponseWriter: w, s: s}
		ctx := r.Context()
		if s.tracer != nil {
			ctx = s.tracer.startServer(ctx, r, x)
		}
		r = r.WithContext(context.WithValue(ctx, exchangeKey{}, x))
		defer func() {
			s.tracer.endServer(x, rec)
			s.logAccess(r, x, rec)
		}()

		if r.ContentLength > s.opts.MaxBodyBytes {
			x.setError("body_too_large")
			s.writeError(rec, r, http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(rec, r.Body, s.opts.MaxBodyBytes)
		}
		next.ServeHTTP(rec, r)
	})
}

// route answers purges, and hands every other request to the route its
// host and path map to.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	x := exchangeFrom(r.Context())
	if isPurge(r) {
		s.purge(w, r)
		return
	}
	rt, ok := s.routes.match(r.Host, r.URL.Path)
	if !ok {
		x.setError("no_route")
		s.writeError(w, r, http.StatusNotFound)
		return
	}
	x.app = rt.App
	s.tracer.setRoute(x, rt.Path)
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
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
		r.wroteHeader = true
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
