package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Upstream is an HTTP service tandem does not run, reached by URL: an
// existing backend, an S3-compatible store. Routes send to it as they send
// to an app (Route.Upstream); its servers are balanced and health-checked
// as an app's instances are, with backup servers in HAProxy's sense.
type Upstream struct {
	// Name is the upstream's key under upstreams: like an app's name, and
	// no app's.
	Name string `yaml:"-"`
	// Servers are the URLs requests go to, 1 to MaxUpstreamServers, at
	// least one not a backup.
	Servers []UpstreamServer `yaml:"servers"`
	// Host is the Host header sent: HostUpstream (default) the server
	// URL's host, HostClient the client's, or a host name to send.
	Host string `yaml:"host"`
	// TLS configures https servers; nil uses the system's roots.
	TLS *UpstreamTLS `yaml:"tls"`
	// Health is the active check of each server; none by default (then a
	// server is taken out by failed requests only).
	Health UpstreamHealth `yaml:"health"`
	// Retries are as an app's.
	Retries RetryPolicy `yaml:"retries"`
}

// UpstreamServer is one server of an upstream.
type UpstreamServer struct {
	// URL is http(s)://host[:port][/path]: no user, query or fragment.
	// Its path, if any, is put before each request's (after the route's
	// strip_path).
	URL string `yaml:"url"`
	// Backup servers get requests only while no other server is up.
	Backup bool `yaml:"backup"`
}

// UpstreamTLS is how the edge verifies an upstream's https servers.
type UpstreamTLS struct {
	// CA is a PEM bundle of the certificates trusted for the servers, in
	// place of the system's roots; absolute; the file exists.
	CA string `yaml:"ca"`
	// ServerName is the name verified in the servers' certificates (and
	// sent as SNI); default each URL's host.
	ServerName string `yaml:"server_name"`
}

// UpstreamHealth is the active health check of an upstream's servers.
type UpstreamHealth struct {
	// Path is GET on each server (after its URL's path); "" (default)
	// runs no active check.
	Path     string   `yaml:"path"`
	Interval Duration `yaml:"interval"` // > 0; default 2s
	Timeout  Duration `yaml:"timeout"`  // > 0 and <= Interval; default 1s
	Rise     int      `yaml:"rise"`     // >= 1; default 2
	Fall     int      `yaml:"fall"`     // >= 1; default 3
}

// Values of Upstream.Host besides a host name.
const (
	HostUpstream = "upstream"
	HostClient   = "client"
)

// MaxUpstreamServers bounds the servers of one upstream.
const MaxUpstreamServers = 64

func (u *Upstream) setDefaults() {
	u.Host = HostUpstream
	u.Health = UpstreamHealth{Interval: Duration(2 * time.Second), Timeout: Duration(time.Second), Rise: 2, Fall: 3}
	u.Retries.setDefaults()
}

// ParseUpstreamURL parses a server URL as the stack file allows it:
// http or https, a host, an optional path; no user, query or fragment.
func ParseUpstreamURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", unwrapURLError(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must be an http:// or https:// URL, got %q", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("must name a host, e.g. https://backend.internal:8443, got %q", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("must not hold a user or password (%q): credentials do not go in URLs", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("must not have a query or fragment, got %q", u.Redacted())
	case !validHost(u.Hostname()):
		return nil, fmt.Errorf("invalid host %q", u.Hostname())
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port must be 1 to 65535, got %q", port)
		}
	}
	return u, nil
}

// validHost reports whether s is a host name or an IP address.
func validHost(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil || validHostname(s)
}

// validHostHeader reports whether s can be sent as a Host header: a host
// name or IP address, with an optional port.
func validHostHeader(s string) bool {
	if validHost(s) {
		return true
	}
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	return err == nil && perr == nil && n > 0 && n < 65536 && validHost(host)
}

// unwrapURLError drops url.Parse's repetition of the input, which may
// hold a password.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// upstreams checks every upstream.
func (k *checker) upstreams() {
	for _, name := range k.st.UpstreamNames {
		u := k.st.Upstreams[name]
		u.Name = name
		p := "upstreams." + name
		if len(name) > 63 || !nameRE.MatchString(name) {
			k.c.note(k.c.line(p), p, "upstream name %q must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters", name)
		}
		if _, ok := k.st.Apps[name]; ok {
			k.c.addf(p, "%q is also an app: routes name either, so the names must differ", name)
		}
		k.upstream(p, u)
	}
}

func (k *checker) upstream(p string, u *Upstream) {
	switch n := len(u.Servers); {
	case n == 0:
		k.c.addf(p+".servers", "required: at least one server, e.g. servers: [{ url: https://backend.internal:8443 }]")
	case n > MaxUpstreamServers:
		k.c.addf(p+".servers", "at most %d servers, got %d", MaxUpstreamServers, n)
	case !slices.ContainsFunc(u.Servers, func(s UpstreamServer) bool { return !s.Backup }):
		k.c.addf(p+".servers", "every server is a backup: at least one must not be")
	}
	seen := make(map[string]int)
	for i, s := range u.Servers {
		f := fmt.Sprintf("%s.servers[%d].url", p, i)
		su, err := ParseUpstreamURL(s.URL)
		if err != nil {
			k.c.addf(f, "%v", err)
			continue
		}
		key := su.Scheme + "://" + strings.ToLower(su.Host) + strings.TrimSuffix(su.Path, "/")
		if j, dup := seen[key]; dup {
			k.c.addf(f, "same server as servers[%d]", j)
		}
		seen[key] = i
	}
	switch u.Host {
	case HostUpstream, HostClient:
	default:
		if !validHostHeader(u.Host) {
			k.c.addf(p+".host", "must be upstream, client or a host name (with an optional :port), got %q", u.Host)
		}
	}
	if t := u.TLS; t != nil {
		t.CA = k.file(p+".tls.ca", t.CA)
		if t.ServerName != "" && !validHostname(t.ServerName) {
			k.c.addf(p+".tls.server_name", "must be a host name, got %q", t.ServerName)
		}
	}
	k.upstreamHealth(p+".health", &u.Health)
	k.retries(p+".retries", &u.Retries)
}

func (k *checker) upstreamHealth(p string, h *UpstreamHealth) {
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		k.c.addf(p+".path", "must start with \"/\" (or be empty: no active check), got %q", h.Path)
	}
	k.positive(p+".interval", h.Interval)
	k.positive(p+".timeout", h.Timeout)
	if h.Timeout > h.Interval && h.Interval > 0 {
		k.c.addf(p+".timeout", "must be <= interval (%s), got %s", h.Interval, h.Timeout)
	}
	k.atLeast(p+".rise", h.Rise, 1)
	k.atLeast(p+".fall", h.Fall, 1)
}
