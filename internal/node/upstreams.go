package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
)

// This file wires the stack's upstreams: services reached by URL that
// routes send to. Each is a balance.Pool of URL targets, run like an
// app's pool; the edge knows it by the upstream's name.

// newUpstreamPools builds a pool for each upstream of st, its servers
// added; Run must run each.
func newUpstreamPools(st *config.Stack, traced func(balance.Options) balance.Options, log *slog.Logger) (map[string]*balance.Pool, error) {
	pools := make(map[string]*balance.Pool, len(st.UpstreamNames))
	for _, name := range st.UpstreamNames {
		p, err := newUpstreamPool(st, st.Upstreams[name], traced, log)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", name, err)
		}
		pools[name] = p
	}
	return pools, nil
}

func newUpstreamPool(st *config.Stack, u *config.Upstream, traced func(balance.Options) balance.Options, log *slog.Logger) (*balance.Pool, error) {
	tlsConf, err := upstreamTLS(u.TLS)
	if err != nil {
		return nil, err
	}
	h := u.Health
	o := traced(balance.Options{
		App:             u.Name,
		Health:          balance.HealthCheck{Path: h.Path, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout), Rise: h.Rise, Fall: h.Fall},
		Retry:           retryOptions(u.Retries),
		UpstreamTimeout: time.Duration(st.Edge.Timeouts.Upstream),
		TLS:             tlsConf,
		Logger:          log.With("part", "balance", "upstream", u.Name),
	})
	p, err := balance.NewPool(o)
	if err != nil {
		return nil, err
	}
	for _, srv := range u.Servers {
		url, err := config.ParseUpstreamURL(srv.URL)
		if err != nil {
			return nil, err // validated: not reached
		}
		tg := balance.Target{ID: srv.URL, URL: url}
		switch u.Host {
		case config.HostUpstream:
			tg.Host = url.Host
		case config.HostClient:
		default:
			tg.Host = u.Host
		}
		if srv.Backup {
			tg.Priority = 1
		}
		if err := p.Add(tg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// upstreamTLS is how an upstream's https servers are verified; nil means
// the system's roots and each URL's host.
func upstreamTLS(t *config.UpstreamTLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pool, err := loadCA(t.CA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

// loadCA reads a PEM bundle of trusted certificates.
func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// retryOptions maps a retry policy, as an app's is mapped.
func retryOptions(r config.RetryPolicy) balance.Retry {
	ratio := r.Budget
	if ratio == 0 {
		ratio = -1 // none: the balancer reads 0 as its default
	}
	return balance.Retry{
		Attempts: r.Attempts,
		Ratio:    ratio,
		Hedge: balance.Hedge{
			Disabled:   !r.Hedge,
			Percentile: r.PerTryTimeout.Percentile,
			Factor:     r.PerTryTimeout.Factor,
			Min:        time.Duration(r.PerTryTimeout.Min),
			Max:        time.Duration(r.PerTryTimeout.Max),
		},
	}
}

// routeUpstream names what serves a route in the edge's Options.Upstreams:
// an app or an upstream by its name, an app's bucket as storageUpstream
// names it.
func routeUpstream(r config.Route) string {
	switch {
	case r.Upstream != "":
		return r.Upstream
	case r.Storage != "":
		return storageUpstream(r.Storage)
	}
	return r.App
}

// storageUpstream names the read-only upstream of an app's bucket in the
// edge: with a dot, which no app's or upstream's name has.
func storageUpstream(app string) string { return app + ".storage" }
