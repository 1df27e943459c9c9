package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
)

// newProxy returns the reverse proxy for one app. The balancer picks the
// instance inside rt.RoundTrip, so Rewrite only sets the scheme and a
// placeholder host, plus the forwarding headers.
func (s *Server) newProxy(app string, rt http.RoundTripper) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = app
			pr.Out.Host = pr.In.Host // the app sees the name the client used
			// The edge answers the client's Expect: 100-continue itself (its
			// server sends the 100 when the body is first read); passed on,
			// the instance's own 100 reached the client as a second one.
			pr.Out.Header.Del("Expect")
			s.setForwarded(pr)
			if x := exchangeFrom(pr.In.Context()); x != nil {
				x.setSent(time.Now())
			}
		},
		Transport: rt,
		// 0: buffered writes, but ReverseProxy still flushes at once for
		// responses of unknown length and text/event-stream. -1 costs a
		// timer and an extra write per response (the benchmark showed a
		// third of pass-through CPU).
		FlushInterval: 0,
		BufferPool:    &s.buffers,
		ModifyResponse: func(resp *http.Response) error {
			// Meant for a follower site's routing (sites.Reads), which has
			// acted on it already if at all; never for the client.
			delete(resp.Header, balance.ReplayHeader)
			if x := exchangeFrom(resp.Request.Context()); x != nil && resp.Request.URL != nil {
				x.setUpstream(resp.Request.URL.Host, time.Now())
			}
			return nil
		},
		ErrorHandler: s.answerError,
		ErrorLog:     nil,
	}
}

// bufferPool recycles the copy buffers of every app's proxy, so a response
// does not allocate 32 KiB. The zero value is ready to use.
type bufferPool struct{ pool sync.Pool }

const copyBufferBytes = 32 << 10

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[copyBufferBytes]byte); ok {
		return b[:]
	}
	return make([]byte, copyBufferBytes)
}

// Put keeps b if it is one of the pool's buffers. Converting it back to an
// array pointer costs no allocation, as a new *[]byte would.
func (p *bufferPool) Put(b []byte) {
	if len(b) == copyBufferBytes {
		p.pool.Put((*[copyBufferBytes]byte)(b))
	}
}

// setForwarded writes X-Forwarded-For/-Host/-Proto and Forwarded. Inbound
// values are kept only when the peer is a trusted proxy; otherwise the
// client could claim any address.
func (s *Server) setForwarded(pr *httputil.ProxyRequest) {
	in := pr.In
	x := exchangeFrom(in.Context())
	var peer netip.Addr
	var trusted bool
	if x != nil {
		peer, trusted = x.peer, x.trusted
	} else {
		peer = parseHostIP(in.RemoteAddr)
		trusted = peer.IsValid() && s.trusted.trusts(peer)
	}
	node := "unknown"
	if peer.IsValid() {
		node = peer.String()
	}
	// One backing array for the fields' values: this runs per request.
	vals := new([5]string)
	var chain []string
	if trusted {
		chain = splitForwardedFor(in.Header.Values("X-Forwarded-For"))
	}
	switch {
	case len(chain) > 0:
		vals[0] = strings.Join(chain, ", ") + ", " + node
	case peer.IsValid():
		vals[0] = node
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	host := in.Host
	if trusted {
		if p := in.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			proto = p
		}
		if h := in.Header.Get("X-Forwarded-Host"); h != "" {
			host = h
		}
	}
	if peer.Is6() {
		node = `"[` + node + `]"`
	}
	fwd := "for=" + node + ";host=" + quoteForwarded(in.Host) + ";proto=" + proto
	if prior := in.Header.Values("Forwarded"); trusted && len(prior) > 0 {
		fwd = strings.Join(prior, ", ") + ", " + fwd
	}
	vals[1], vals[2], vals[3] = proto, host, fwd
	// Canonical keys set directly: Header.Set would canonicalise each.
	out := pr.Out.Header
	if vals[0] != "" {
		out["X-Forwarded-For"] = vals[0:1:1]
	}
	out["X-Forwarded-Proto"] = vals[1:2:2]
	out["X-Forwarded-Host"] = vals[2:3:3]
	out["Forwarded"] = vals[3:4:4]
	if x != nil {
		vals[4] = x.id
		out[requestIDHeader] = vals[4:5:5]
	}
	dropProxyFields(out, trusted, in.Method)
}

// forwardedEscaper escapes a quoted-string's backslashes and quotes.
var forwardedEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// quoteForwarded quotes a Forwarded parameter value when it is not a
// token (RFC 7239 §4), as a host with a port is not.
func quoteForwarded(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			if strings.ContainsAny(v, `\"`) {
				v = forwardedEscaper.Replace(v)
			}
			return `"` + v + `"`
		}
	}
	return v
}

// answerError answers a request that failed with err: the app's failure
// (the reverse proxy's ErrorHandler: no instance produced a response),
// the client's (its body could not be read), or the edge's own (it could
// not hold the body).
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	if x != nil && x.body != nil {
		if berr := x.body.failed.Load(); berr != nil {
			// Reading the client's body failed: whatever the transport
			// made of it (a read timeout also cancels the request's
			// context), that is the cause.
			err = berr
		}
	}
	status, kind := errorStatus(r.Context(), err)
	if x != nil {
		x.setError(kind)
	}
	switch {
	case status == statusClientClosed:
		if x != nil {
			x.gone.Store(true) // the middleware records the 499
		}
		return // nobody is listening
	case status == http.StatusInsufficientStorage:
		if ok, skipped := s.stored.allow(time.Now()); ok {
			s.log.Error("edge cannot buffer request body", "dir", s.opts.BodyTempDir, "err", err, "not_logged", skipped)
		}
	case status >= 500:
		s.log.Warn("upstream error", "app", appOf(x), "status", status, "kind", kind, "err", err)
	}
	s.writeError(w, r, status)
}

// statusClientClosed is nginx's 499: the client closed the request.
const statusClientClosed = 499

// errorStatus maps an error to the status the client gets. It is the
// only place that decides this:
//   - the request body could not be read from the client (see
//     clientBodyError.status): over the limit 413, too slow 408, cut
//     short 499, malformed 400
//   - the edge could not hold the body (bodyStoreError): 507
//   - this host out of descriptors, ports or buffers (balance.ErrLocalResources): 503
//   - request body over the limit: 413
//   - the client went away: 499 (logged, nothing written)
//   - no healthy instance (balance.ErrNoTarget): 503
//   - no response in time (upstream timeout): 504
//   - anything else (refused, reset, bad response): 502
func errorStatus(ctx context.Context, err error) (int, string) {
	var bodyErr *clientBodyError
	var storeErr *bodyStoreError
	var maxBytes *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &bodyErr):
		return bodyErr.status(ctx)
	case errors.As(err, &storeErr):
		return http.StatusInsufficientStorage, "body_store"
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return statusClientClosed, "client_closed"
	case errors.Is(err, balance.ErrNoTarget):
		return http.StatusServiceUnavailable, "no_instance"
	case errors.Is(err, balance.ErrLocalResources):
		return http.StatusServiceUnavailable, "local_resources"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return http.StatusGatewayTimeout, "upstream_timeout"
	default:
		return http.StatusBadGateway, "upstream_error"
	}
}

func appOf(x *exchange) string {
	if x == nil {
		return ""
	}
	return x.app
}
