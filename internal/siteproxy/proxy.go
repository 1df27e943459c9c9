// Package siteproxy is the client-side health proxy: a small page, its
// script and a service worker that every node's edge serves under one path
// on every host, and a probe each edge answers to any origin (CORS). In
// the browser the page probes every site and sends the user to the one
// that should serve — the leading site if it answers, else the first that
// does — and the worker, once installed on an origin, stands the cached
// page in for any page load whose site does not answer, so that a user
// whose DNS still points at a dark site is moved all the same.
//
// Everything is in the binary (embedded, no CDN, no build step), and the
// page is small enough to stay in the browser's cache. What a browser
// allows, and so what the proxy can and cannot do, is written down in
// docs/sites-clients.md.
package siteproxy

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultPrefix is the path the proxy is served under when Options.Prefix
// is empty.
const DefaultPrefix = "/.tandem/sites/"

// Sites says which sites take clients now; sitedns.ClusterSites
// implements it, from the cluster's view and the sites core's decision.
type Sites interface {
	// Serving returns the sites clients should be sent to now, the
	// leading site first; empty when none is known.
	Serving() []string
}

// Options configure a Proxy.
type Options struct {
	// Prefix is the path the proxy is served under, starting and ending
	// with "/"; DefaultPrefix when empty.
	Prefix string
	// Site and Node name this node, in the probe's answer.
	Site, Node string
	// Origins are the URLs at which each site's edge is reached directly
	// ("https://cloud.example.com"), by site name; at least one.
	Origins map[string]string
	// Sites says which sites serve now; required.
	Sites Sites
	// ProbeInterval is how often the page probes again while no site
	// answers; ProbeTimeout how long a probe may take. Defaults 2s, 3s.
	ProbeInterval, ProbeTimeout time.Duration
}

//go:embed ui
var uiFiles embed.FS

// asset is one file the proxy serves.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Proxy serves the health proxy under its prefix. It is an http.Handler
// for the edge's built-in paths.
type Proxy struct {
	opts    Options
	assets  map[string]asset // by path below the prefix; "" is the page
	csp     string           // the page's Content-Security-Policy
	origins []string         // site names with an origin, sorted
}

var _ http.Handler = (*Proxy)(nil)

// New checks opts and prepares the files. It starts nothing.
func New(opts Options) (*Proxy, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/") || len(opts.Prefix) < 2 ||
		strings.ContainsAny(opts.Prefix, "\"'<>\\?#% ") {
		return nil, fmt.Errorf("new health proxy: prefix %q: must be a plain path starting and ending with /", opts.Prefix)
	}
	if opts.Sites == nil || len(opts.Origins) == 0 {
		return nil, errors.New("new health proxy: Sites and at least one origin are required")
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 2 * time.Second
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 3 * time.Second
	}
	opts.Origins = maps.Clone(opts.Origins)
	p := &Proxy{opts: opts, origins: slices.Sorted(maps.Keys(opts.Origins))}
	connect := []string{"'self'"}
	for _, site := range p.origins {
		u, err := url.Parse(opts.Origins[site])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("new health proxy: origin of site %q: %q is not http(s)://host[:port]", site, opts.Origins[site])
		}
		opts.Origins[site] = u.Scheme + "://" + u.Host
		connect = append(connect, opts.Origins[site])
	}
	p.csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src " + strings.Join(connect, " ") +
		"; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	var err error
	if p.assets, err = loadAssets(opts.Prefix, opts.ProbeTimeout); err != nil {
		return nil, fmt.Errorf("new health proxy: %w", err)
	}
	return p, nil
}

// Prefix returns the path the proxy is served under.
func (p *Proxy) Prefix() string { return p.opts.Prefix }

// loadAssets reads the embedded files and fills their placeholders: the
// prefix in the page, and in the worker the timeout and a version that
// changes with any of the files, so that browsers install a new worker
// (and cache the new files) when the binary's files change.
func loadAssets(prefix string, timeout time.Duration) (map[string]asset, error) {
	types := map[string]string{
		"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
		"app.css": "text/css; charset=utf-8", "register.js": "text/javascript; charset=utf-8",
		"sw.js": "text/javascript; charset=utf-8",
	}
	out := make(map[string]asset, len(types))
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(types)) {
		body, err := fs.ReadFile(uiFiles, "ui/"+name)
		if err != nil {
			return nil, err
		}
		body = bytes.ReplaceAll(body, []byte("{{PREFIX}}"), []byte(prefix))
		h.Write(body)
		path := name
		if name == "index.html" {
			path = ""
		}
		out[path] = asset{body: body, ctype: types[name]}
	}
	fmt.Fprintf(h, "%s|%d", prefix, timeout.Milliseconds())
	version := hex.EncodeToString(h.Sum(nil))[:16]
	sw := out["sw.js"]
	sw.body = bytes.ReplaceAll(sw.body, []byte("{{VERSION}}"), []byte(version))
	sw.body = bytes.ReplaceAll(sw.body, []byte("{{TIMEOUT_MS}}"), []byte(strconv.FormatInt(timeout.Milliseconds(), 10)))
	out["sw.js"] = sw
	for path, a := range out {
		sum := sha256.Sum256(a.body)
		a.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		out[path] = a
	}
	return out, nil
}
