package config

import "net/netip"

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
}

// EdgeLimits bound what a client may send. Both are > 0.
type EdgeLimits struct {
	MaxHeaderBytes Size `yaml:"max_header_bytes"` // default 64KiB
	MaxBodyBytes   Size `yaml:"max_body_bytes"`   // default 100MiB
}

// Route sends requests whose host and path match to an app.
type Route struct {
	// Host is a lower-case host name without port, a wildcard "*.example.com"
	// (any subdomain, not the domain itself), or "" for any host ("*" in the
	// file is stored as "").
	Host string `yaml:"host"`
	Path string `yaml:"path"` // path prefix, starts with "/"; default "/"
	App  string `yaml:"app"`  // a key of Stack.Apps
	// Cache is how the route uses the edge cache.
	Cache RouteCache `yaml:"cache"`
}
