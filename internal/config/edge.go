package config

import (
	"net/netip"
	"path/filepath"
	"time"
)

// Edge configures the HTTP entry point of every node: listeners, limits,
// trusted proxies, the access log and the routing table.
type Edge struct {
	// Listen is the plain-HTTP address (host:port); default ":8080". It is ""
	// when the stack file says "off": no plain-HTTP listener.
	Listen string `yaml:"listen"`
	// TLS is the HTTPS listener; nil when the stack file has none.
	TLS *TLS `yaml:"tls"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed. A bare
	// IP in the file becomes a single-address prefix (/32 or /128).
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	Timeouts       EdgeTimeouts   `yaml:"timeouts"`
	Limits         EdgeLimits     `yaml:"limits"`
	// BodyTempPath is the directory of the temp files that hold request
	// bodies larger than Limits.BodyBuffer; absolute; default
	// <data_dir>/body.
	BodyTempPath string `yaml:"body_temp_path"`
	// AccessLog is "stdout" (default), "off", or an absolute file path.
	AccessLog string `yaml:"access_log"`
	// Cache is the HTTP cache the routes share.
	Cache EdgeCache `yaml:"cache"`
	// Purge says who may purge the cache.
	Purge Purge `yaml:"purge"`
	// Routes map host and path prefix to an app, in file order. Never empty
	// after validation: with a single app and no routes in the file it holds
	// one catch-all route to that app.
	Routes []Route `yaml:"routes"`
}

// Access log destinations other than a file path.
const (
	AccessLogStdout = "stdout"
	AccessLogOff    = "off"
)

// TLS is the HTTPS listener.
type TLS struct {
	Listen string `yaml:"listen"` // host:port; default ":8443"
	Cert   string `yaml:"cert"`   // absolute path of the PEM certificate chain; the file exists
	Key    string `yaml:"key"`    // absolute path of the PEM private key; the file exists
}

// EdgeTimeouts bound how long the edge waits. All are > 0.
type EdgeTimeouts struct {
	ReadHeader Duration `yaml:"read_header"` // reading a request's headers; default 10s
	Idle       Duration `yaml:"idle"`        // keep-alive connection idle; default 120s
	Upstream   Duration `yaml:"upstream"`    // to the first response byte from an instance; default 60s
	Shutdown   Duration `yaml:"shutdown"`    // draining on SIGTERM; default 30s
	// Body is the longest wait for more of a request body, and the time
	// after which EdgeLimits.BodyMinRate applies; default 60s.
	Body Duration `yaml:"body"`
}

// EdgeLimits bound what a client may send and what the edge holds for
// it.
type EdgeLimits struct {
	MaxHeaderBytes Size `yaml:"max_header_bytes"` // > 0; default 64KiB
	MaxBodyBytes   Size `yaml:"max_body_bytes"`   // > 0; default 100MiB
	// BodyMinRate is the average rate, in bytes per second, a request
	// body must keep once Timeouts.Body has passed since it began; 0 for
	// none; default 1KiB.
	BodyMinRate Size `yaml:"body_min_rate"`
	// BodyBuffer is the size up to which a request body is held in
	// memory while it arrives; larger bodies go to a temp file in
	// Edge.BodyTempPath. > 0 and <= 64MiB; default 64KiB.
	BodyBuffer Size `yaml:"body_buffer"`
	// BodyMemory bounds the memory all request bodies held at once use;
	// past it, they go to temp files. >= BodyBuffer; default 64MiB.
	BodyMemory Size `yaml:"body_memory"`
	// BodyDisk bounds the bytes all request bodies in temp files at once
	// use; past it, requests with a body get 507. >= MaxBodyBytes;
	// default 1GiB.
	BodyDisk Size `yaml:"body_disk"`
	// MaxConnections caps the client connections open at once; 0 (the
	// default) means half the node's open-file limit.
	MaxConnections int `yaml:"max_connections"`
}

// Values of Route.RequestBody.
const (
	// RequestBodyBuffer reads each request body in full before the
	// request goes to an instance.
	RequestBodyBuffer = "buffer"
	// RequestBodyStream passes request bodies on as they arrive.
	RequestBodyStream = "stream"
)

func (t *EdgeTimeouts) setDefaults() {
	*t = EdgeTimeouts{
		ReadHeader: Duration(10 * time.Second),
		Idle:       Duration(120 * time.Second),
		Upstream:   Duration(60 * time.Second),
		Shutdown:   Duration(30 * time.Second),
		Body:       Duration(60 * time.Second),
	}
}

func (l *EdgeLimits) setDefaults() {
	*l = EdgeLimits{
		MaxHeaderBytes: 64 * KiB, MaxBodyBytes: 100 * MiB,
		BodyMinRate: 1 * KiB, BodyBuffer: 64 * KiB, BodyMemory: 64 * MiB, BodyDisk: 1 * GiB,
	}
}

// maxBodyBuffer is the most edge.limits.body_buffer may be (the edge's
// largest memory buffer).
const maxBodyBuffer = 64 * MiB

// edgeLimits checks edge.timeouts, edge.limits and edge.body_temp_path.
// It runs after cluster(), so the data directory is absolute.
func (k *checker) edgeLimits() {
	e := &k.st.Edge
	k.positive("edge.timeouts.read_header", e.Timeouts.ReadHeader)
	k.positive("edge.timeouts.idle", e.Timeouts.Idle)
	k.positive("edge.timeouts.upstream", e.Timeouts.Upstream)
	k.positive("edge.timeouts.shutdown", e.Timeouts.Shutdown)
	k.positive("edge.timeouts.body", e.Timeouts.Body)
	l := &e.Limits
	if l.MaxHeaderBytes <= 0 || l.MaxHeaderBytes > 1*GiB {
		k.c.addf("edge.limits.max_header_bytes", "must be > 0 and <= 1GiB, got %s", l.MaxHeaderBytes)
	}
	if l.MaxBodyBytes <= 0 {
		k.c.addf("edge.limits.max_body_bytes", "must be > 0, got %s", l.MaxBodyBytes)
	}
	switch {
	case l.BodyBuffer <= 0 || l.BodyBuffer > maxBodyBuffer:
		k.c.addf("edge.limits.body_buffer", "must be > 0 and <= %s, got %s", maxBodyBuffer, l.BodyBuffer)
	case l.BodyMemory < l.BodyBuffer:
		k.c.addf("edge.limits.body_memory", "must be at least edge.limits.body_buffer (%s), got %s", l.BodyBuffer, l.BodyMemory)
	}
	if l.BodyDisk < l.MaxBodyBytes {
		k.c.addf("edge.limits.body_disk", "must be at least edge.limits.max_body_bytes (%s): a body the edge accepts must fit; got %s", l.MaxBodyBytes, l.BodyDisk)
	}
	if l.MaxConnections < 0 {
		k.c.addf("edge.limits.max_connections", "must be >= 0 (0: half the open-file limit), got %d", l.MaxConnections)
	}
	if e.BodyTempPath == "" {
		e.BodyTempPath = filepath.Join(k.st.Cluster.DataDir, "body")
	} else {
		e.BodyTempPath = k.path("edge.body_temp_path", e.BodyTempPath)
	}
}

// routeBody checks a route's request_body.
func (k *checker) routeBody(p string, r *Route) {
	if r.RequestBody != RequestBodyBuffer && r.RequestBody != RequestBodyStream {
		k.c.addf(p+".request_body", "must be buffer or stream, got %q", r.RequestBody)
	}
}

// Route sends requests whose host and path match to an app.
type Route struct {
	// Host is a lower-case host name without port, a wildcard "*.example.com"
	// (any subdomain, not the domain itself), or "" for any host ("*" in the
	// file is stored as "").
	Host string `yaml:"host"`
	Path string `yaml:"path"` // path prefix, starts with "/"; default "/"
	// App, Upstream or Storage says what serves the route; exactly one is
	// set. App is a key of Stack.Apps.
	App string `yaml:"app"`
	// Upstream is a key of Stack.Upstreams: a service reached by URL.
	Upstream string `yaml:"upstream"`
	// Storage is an app whose bucket (Stack.Storage.Apps) the route
	// serves, read-only: the path after the route's prefix is the
	// object's key.
	Storage string `yaml:"storage"`
	// StripPath removes the route's path prefix from requests before
	// they go on (an upstream served at /legacy/ that knows nothing of
	// it). Storage routes always strip it.
	StripPath bool `yaml:"strip_path"`
	// Cache is how the route uses the edge cache.
	Cache RouteCache `yaml:"cache"`
	// RequestBody is RequestBodyBuffer (default) or RequestBodyStream:
	// whether request bodies are read in full before the request goes
	// to an instance, or passed on as they arrive (for uploads the app
	// must see as they come).
	RequestBody string `yaml:"request_body"`
	// Critical: the route is served as usual in an emergency of the
	// leader site; other routes answer from the cache while it holds a
	// usable copy, else with a fallback page. nil (default): its app's
	// critical (Stack.RouteCritical).
	Critical *bool `yaml:"critical"`
}
