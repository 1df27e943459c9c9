package balance

import (
	"fmt"
	"net/http"
	"strings"
)

// AppHeader is the request header that tells a node receiving a request
// from another node's pool which app's pool serves it. A pool sets it on
// attempts to Remote targets only and strips it from every other attempt,
// so that no client can set it for an instance to see.
const AppHeader = "Tandem-App"

// ReplayHeader, on an instance's response to a GET or HEAD that a
// follower site served locally, asks for the request to be replayed at
// the leader site (sites.Reads): the request writes. It is defined here,
// below both, so that the edge can keep it from every client. A pool
// passes it on as any field, also from a Remote target, for the node that
// sent the request to act on.
const ReplayHeader = "Tandem-Replay"

// address points out at t and returns the transport that reaches t. A
// client-sent AppHeader never goes out (it is looked up in canonical form,
// as net/http's server and Header.Set write every key); an attempt to a
// Remote target goes over HTTPS through Options.RemoteTransport and carries
// the pool's app in AppHeader. The request's header map is copied only when
// it must change, which on the common path (a local target, no AppHeader)
// it need not.
func (p *Pool) address(out *outRequest, t *target) http.RoundTripper {
	out.r.URL = &out.u
	out.u.Host = t.Addr
	if t.base != nil {
		return p.addressURL(out, t)
	}
	if t.Remote {
		out.u.Scheme = "https"
		h := out.r.Header.Clone()
		if h == nil {
			h = make(http.Header, 1)
		}
		delete(h, AppHeader)
		h[AppHeader] = []string{p.opts.App}
		out.r.Header = h
		return p.opts.RemoteTransport
	}
	if out.u.Scheme == "" {
		out.u.Scheme = "http"
	}
	if _, ok := out.r.Header[AppHeader]; ok {
		out.r.Header = out.r.Header.Clone()
		delete(out.r.Header, AppHeader)
	}
	if t.conns != nil && direct(&out.r) {
		return t.conns
	}
	return p.transport
}

// addressURL points out at a URL target: its scheme and host, its path
// before the request's, its Host header if it has one. The request's
// header map is copied only when AppHeader must go.
func (p *Pool) addressURL(out *outRequest, t *target) http.RoundTripper {
	out.u.Scheme = t.base.Scheme
	if base := strings.TrimSuffix(t.URL.Path, "/"); base != "" {
		escaped := strings.TrimSuffix(t.URL.EscapedPath(), "/") + out.u.EscapedPath()
		out.u.Path, out.u.RawPath = base+out.u.Path, ""
		if escaped != out.u.EscapedPath() {
			out.u.RawPath = escaped // keep the request's own escaping (%2F stays)
		}
	}
	if t.Host != "" {
		out.r.Host = t.Host
	}
	if _, ok := out.r.Header[AppHeader]; ok {
		out.r.Header = out.r.Header.Clone()
		delete(out.r.Header, AppHeader)
	}
	switch {
	case t.Transport != nil:
		return t.Transport
	case t.conns != nil && direct(&out.r):
		return t.conns
	}
	return p.transport
}

// checked reports whether the pool runs active health checks on t. Remote
// targets are never checked here: the node running their instances checks
// those, and the cluster's view reaches the pool through SetHealth.
func (p *Pool) checked(t *target) bool {
	return p.opts.Health.Path != "" && !t.Remote
}

// SetHealth sets whether a Remote target is healthy, as the cluster sees
// the instances behind it. A Remote target is healthy from Add (and Reset)
// until SetHealth says otherwise; passive health still ejects it on failed
// attempts. Targets the pool checks itself cannot be set: SetHealth returns
// ErrNotRemote for them, and ErrUnknownTarget for an ID the pool does not
// hold.
func (p *Pool) SetHealth(id string, healthy bool) error {
	t, err := p.lookup("set health of", id)
	if err != nil {
		return err
	}
	if !t.Remote {
		return fmt.Errorf("set health of target %s of %s: %w", id, p.opts.App, ErrNotRemote)
	}
	t.mu.Lock()
	if healthy {
		t.health.markHealthy()
	} else {
		t.health.markUnhealthy()
	}
	t.healthy.Store(healthy)
	t.mu.Unlock()
	t.poke() // the watcher reports the change
	return nil
}

// SetWeight sets the weight of a target (see Target.Weight): for a Remote
// target, the number of the other node's healthy instances, as the cluster
// sees them. 0 means 1.
func (p *Pool) SetWeight(id string, weight int) error {
	if weight < 0 || weight > maxWeight {
		return fmt.Errorf("set weight of target %s of %s: weight %d: must be between 0 and %d", id, p.opts.App, weight, maxWeight)
	}
	t, err := p.lookup("set weight of", id)
	if err != nil {
		return err
	}
	t.weight.Store(int64(max(weight, 1)))
	return nil
}

// LocalTransport returns a RoundTripper that balances like the pool, with
// its retries, retry budget and passive health, but only over targets that
// are not Remote. A node serves a request that another node forwarded to it
// through it, so that the request is served here or fails, and never
// bounces on to a third node.
func (p *Pool) LocalTransport() http.RoundTripper {
	return localTransport{p: p}
}

// localTransport is the RoundTripper LocalTransport returns.
type localTransport struct{ p *Pool }

// RoundTrip implements http.RoundTripper like Pool.RoundTrip, drawing from
// the pool's own node's targets only.
func (l localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return l.p.roundTrip(req, scope{ownNode: true})
}
