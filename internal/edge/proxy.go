package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
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
			if x := exchangeFrom(resp.Request.Context()); x != nil && resp.Request.URL != nil {
				x.setUpstream(resp.Request.URL.Host, time.Now())
			}
			return nil
		},
		ErrorHandler: s.proxyError,
		ErrorLog:     nil,
	}
}

// bufferPool recycles the copy buffers of every app's proxy, so a response
// does not allocate 32 KiB. The zero value is ready to use.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// setForwarded writes X-Forwarded-For/-Host/-Proto and Forwarded. Inbound
// values are kept only when the peer is a trusted proxy; otherwise the
// client could claim any address.
func (s *Server) setForwarded(pr *httputil.ProxyRequest) {
	in := pr.In
	peer := parseHostIP(in.RemoteAddr)
	trusted := s.trusted.trusts(peer)
	chain := s.trusted.forwardedChain(in.RemoteAddr, in.Header.Values("X-Forwarded-For"))
	if peer.IsValid() {
		chain = append(chain, peer.String())
	}
	if len(chain) > 0 {
		pr.Out.Header.Set("X-Forwarded-For", strings.Join(chain, ", "))
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
	pr.Out.Header.Set("X-Forwarded-Proto", proto)
	pr.Out.Header.Set("X-Forwarded-Host", host)

	fwd := "for=" + forwardedNode(peer) + ";host=" + quoteForwarded(in.Host) + ";proto=" + proto
	if prior := in.Header.Values("Forwarded"); trusted && len(prior) > 0 {
		fwd = strings.Join(prior, ", ") + ", " + fwd
	}
	pr.Out.Header.Set("Forwarded", fwd)
	if x := exchangeFrom(in.Context()); x != nil {
		pr.Out.Header.Set(requestIDHeader, x.id)
	}
}

// quoteForwarded quotes a Forwarded parameter value when it is not a
// token (RFC 7239 §4).
func quoteForwarded(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		}
	}
	return v
}

// proxyError answers when no instance produced a response.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	status, kind := errorStatus(r.Context(), err)
	if x != nil {
		x.setError(kind)
	}
	if status == statusClientClosed {
		// Nobody is listening; record it, write nothing.
		if rec, ok := w.(*recorder); ok {
			rec.status = statusClientClosed
		}
		return
	}
	s.log.Warn("upstream error", "app", appOf(x), "status", status, "kind", kind, "err", err)
	s.writeError(w, r, status)
}

// statusClientClosed is nginx's 499: the client closed the request.
const statusClientClosed = 499

// errorStatus maps a proxy error to the status the client gets. It is the
// only place that decides this:
//   - no healthy instance (balance.ErrNoTarget): 503
//   - no response in time (upstream timeout): 504
//   - request body over the limit: 413
//   - the client went away: 499 (logged, nothing written)
//   - anything else (refused, reset, bad response): 502
func errorStatus(ctx context.Context, err error) (int, string) {
	var maxBytes *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return statusClientClosed, "client_closed"
	case errors.Is(err, balance.ErrNoTarget):
		return http.StatusServiceUnavailable, "no_instance"
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
