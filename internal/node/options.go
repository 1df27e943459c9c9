package node

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// This file maps the stack file onto each part's Options: the only place
// that knows both.

func edgeOptions(st *config.Stack, upstreams map[string]http.RoundTripper, cache *httpcache.Cache, purger edge.Purger, accessLog io.Writer, log *slog.Logger) edge.Options {
	e := st.Edge
	o := edge.Options{
		Listen:            e.Listen,
		TrustedProxies:    e.TrustedProxies,
		ReadHeaderTimeout: time.Duration(e.Timeouts.ReadHeader),
		IdleTimeout:       time.Duration(e.Timeouts.Idle),
		ShutdownTimeout:   time.Duration(e.Timeouts.Shutdown),
		MaxHeaderBytes:    int(e.Limits.MaxHeaderBytes),
		MaxBodyBytes:      int64(e.Limits.MaxBodyBytes),
		AccessLog:         accessLog,
		Upstreams:         upstreams,
		Cache:             cache,
		Purge:             edge.PurgeOptions{Allow: e.Purge.Allow, Token: e.Purge.Token, Purger: purger},
		Logger:            log.With("part", "edge"),
	}
	if e.TLS != nil {
		o.TLS = &edge.TLSOptions{Listen: e.TLS.Listen, CertFile: e.TLS.Cert, KeyFile: e.TLS.Key}
	}
	for _, r := range e.Routes {
		o.Routes = append(o.Routes, edge.Route{Host: r.Host, Path: r.Path, App: r.App, Cache: routeCacheOptions(r.Cache, cache)})
	}
	return o
}

func poolOptions(st *config.Stack, name string, a *config.App, log *slog.Logger, peers http.RoundTripper, onHealth func(balance.TargetStatus)) balance.Options {
	h := a.Health
	ratio := a.Retries.Budget
	if ratio == 0 {
		ratio = -1 // none: the balancer reads 0 as its default
	}
	return balance.Options{
		RemoteTransport: peers,
		App:             name,
		Zone:            st.Cluster.Zone,
		Health: balance.HealthCheck{
			Path:     h.Path,
			Interval: time.Duration(h.Interval),
			Timeout:  time.Duration(h.Timeout),
			Rise:     h.Rise,
			Fall:     h.Fall,
		},
		Retry: balance.Retry{
			Attempts: a.Retries.Attempts,
			Ratio:    ratio,
			Hedge: balance.Hedge{
				Disabled:   !a.Retries.Hedge,
				Percentile: a.Retries.PerTryTimeout.Percentile,
				Factor:     a.Retries.PerTryTimeout.Factor,
				Min:        time.Duration(a.Retries.PerTryTimeout.Min),
				Max:        time.Duration(a.Retries.PerTryTimeout.Max),
			},
		},
		UpstreamTimeout: time.Duration(st.Edge.Timeouts.Upstream),
		Logger:          log.With("part", "balance"),
		OnHealthChange:  onHealth,
	}
}
