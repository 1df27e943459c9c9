package balance

import (
	"context"
	"net"
	"net/http"
	"time"
)

// dialer returns how the pool dials targets: Options.DialContext bounded
// by ConnectTimeout, or a net.Dialer with keepalive as given.
func dialer(o Options, keepAlive time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if o.DialContext == nil {
		return (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: keepAlive}).DialContext
	}
	dial, timeout := o.DialContext, o.ConnectTimeout
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
}

// newTransport returns the transport for proxied requests: connections kept
// alive and plenty of them per target (the default of 2 idle connections per
// host makes a busy proxy dial all the time), no proxy from the environment,
// HTTP/1.1 only, no transparent gzip (the client's Accept-Encoding is passed
// on untouched), and a bound on the wait for response headers.
func newTransport(o Options) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer(o, 30*time.Second),
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          0, // no limit across targets
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: max(o.UpstreamTimeout, 0),
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		TLSClientConfig:       o.TLS,
	}
}

// newHealthTransport returns the transport for health checks: separate from
// the proxied traffic's, so a busy pool cannot starve checks of connections,
// and without keep-alive, so each check proves the target still accepts
// connections.
func newHealthTransport(o Options) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer(o, 0),
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        o.TLS,
	}
}
