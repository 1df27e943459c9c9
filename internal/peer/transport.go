package peer

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Transport carries requests to other nodes' node listeners: HTTPS with
// this node's certificate from the cluster CA. The certificate exists
// only once the cluster is open, so the transport is built at first use
// (remote targets and rollouts appear only after that).
type Transport struct {
	tls  func() *tls.Config // this node's client TLS; valid once the cluster is open
	once sync.Once
	t    *http.Transport
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a transport whose TLS configuration tlsConfig
// gives at first use.
func NewTransport(tlsConfig func() *tls.Config) *Transport {
	return &Transport{tls: tlsConfig}
}

// RoundTrip implements http.RoundTripper.
func (p *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	p.once.Do(func() {
		p.t = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       p.tls(),
			TLSHandshakeTimeout:   3 * time.Second,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	})
	return p.t.RoundTrip(r)
}

// CloseIdleConnections drops the idle connections.
func (p *Transport) CloseIdleConnections() {
	p.once.Do(func() {}) // no transport is built after this
	if p.t != nil {
		p.t.CloseIdleConnections()
	}
}
