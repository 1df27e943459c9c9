package edge

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// Options configure a Server. Zero durations and sizes take the defaults
// noted on each field.
type Options struct {
	// Listen is the plain HTTP address (":8080"); "" serves no plain HTTP.
	Listen string
	// TLS, when set, serves HTTP/1.1 and HTTP/2 over TLS.
	TLS *TLSOptions
	// Inherited holds listening sockets that the process which ran this
	// node before an upgrade handed over (see Server.Handover), by name:
	// ListenerHTTP in place of binding Listen, ListenerTLS in place of
	// binding TLS.Listen. Connections that queued on them meanwhile are
	// served. The Server owns them from Listen on. nil binds every
	// address.
	Inherited map[string]net.Listener
	// TrustedProxies may set X-Forwarded-For / Forwarded / X-Request-Id.
	TrustedProxies []netip.Prefix
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests when Run's
	// context ends (default 30s). Connections still open then are closed.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes limits request headers (default 64 KiB); larger → 431.
	MaxHeaderBytes int
	// MaxBodyBytes limits request bodies (default 100 MiB); larger → 413.
	MaxBodyBytes int64
	// BodyTimeout is the longest wait for more of a request body (default
	// 60s); past it, or past the minimum rate, the edge answers 408.
	BodyTimeout time.Duration
	// BodyMinRate is the average rate in bytes per second a request body
	// must keep once BodyTimeout has passed since it began (default 1 KiB;
	// negative: none). See bodyPace.
	BodyMinRate int64
	// BodyBuffer is the size up to which a request body is held in
	// memory before the request goes on (default 64 KiB, at most
	// MaxBodyBuffer); a larger body goes to a temp file.
	BodyBuffer int64
	// BodyMemory bounds the memory all request bodies held at once may
	// use (default 64 MiB); past it, bodies go to temp files.
	BodyMemory int64
	// BodyDisk bounds the bytes all request bodies held in temp files at
	// once may use (default 1 GiB); past it, the edge answers 507.
	BodyDisk int64
	// BodyTempDir is the directory of the temp files (default the
	// system's temp directory). Listen creates it.
	BodyTempDir string
	// MaxConnections caps the client connections open at once, on all
	// listeners together (default half the open-file limit; see
	// connLimit).
	MaxConnections int
	// AccessLog receives one JSON line per request; nil logs nothing.
	AccessLog io.Writer
	// Observer is told of every request once it is answered, where the
	// access log is written (metrics); nil costs nothing.
	Observer Observer
	// Routes map host and path to an app. Every app named must be in
	// Upstreams.
	Routes []Route
	// Upstreams holds one RoundTripper per app, normally a balance.Pool.
	Upstreams map[string]http.RoundTripper
	// Builtins are handlers the edge serves itself, on every host and
	// before any route, by path prefix: each starts and ends with "/",
	// and also takes its path without the final "/". A request under one
	// never reaches an app. nil serves none.
	Builtins map[string]http.Handler
	// Cache is the HTTP cache shared by the routes that set Route.Cache;
	// nil caches nothing.
	Cache *httpcache.Cache
	// Purge says who may send PURGE and BAN, and where they go.
	Purge PurgeOptions
	// Logger receives the edge's own events; nil discards them.
	Logger *slog.Logger
	// Tracer makes the spans of the requests; nil traces nothing, at no
	// cost. The upstream attempt spans are made by the apps' balancers,
	// given TraceAttempts of the same Tracer as their
	// balance.Options.OnAttempt.
	Tracer Tracer
}

// TLSOptions configure the TLS listener.
type TLSOptions struct {
	Listen   string
	CertFile string
	KeyFile  string
}

func setDefaults(o *Options) {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 100 << 20
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 60 * time.Second
	}
	switch {
	case o.BodyMinRate == 0:
		o.BodyMinRate = 1 << 10
	case o.BodyMinRate < 0:
		o.BodyMinRate = 0
	}
	if o.BodyBuffer <= 0 {
		o.BodyBuffer = 64 << 10
	}
	if o.BodyMemory <= 0 {
		o.BodyMemory = 64 << 20
	}
	if o.BodyDisk <= 0 {
		o.BodyDisk = 1 << 30
	}
	if o.BodyTempDir == "" {
		o.BodyTempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
