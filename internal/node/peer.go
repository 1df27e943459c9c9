package node

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// peerTransport carries requests to other nodes' node listeners: HTTPS
// with this node's certificate from the cluster CA. The certificate exists
// only once the cluster is open, so the transport is built at first use
// (remote targets appear only after that).
type peerTransport struct {
	c    *cluster.Cluster
	once sync.Once
	t    *http.Transport
}

func (p *peerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p.once.Do(func() {
		p.t = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       p.c.ClientTLS(),
			TLSHandshakeTimeout:   3 * time.Second,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	})
	return p.t.RoundTrip(r)
}

// close drops the idle connections.
func (p *peerTransport) close() {
	if p.t != nil {
		p.t.CloseIdleConnections()
	}
}
