package siteproxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Files below the prefix that are not served as they are.
const (
	probePath  = "probe"
	configPath = "config.json"
)

// ServeHTTP answers a request under the prefix: the page at the prefix,
// its files, the configuration and the probe. The path without its final
// "/" is redirected to the prefix.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, p.opts.Prefix)
	if !ok {
		if r.URL.Path+"/" == p.opts.Prefix {
			target := p.opts.Prefix
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
			return
		}
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if rest == probePath {
		p.serveProbe(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if rest == configPath {
		p.serveConfig(w, r)
		return
	}
	a, ok := p.assets[rest]
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch rest {
	case "":
		h.Set("Content-Security-Policy", p.csp)
		h.Set("Referrer-Policy", "no-referrer")
	case "sw.js":
		// The worker lives under the prefix but watches the whole origin.
		h.Set("Service-Worker-Allowed", "/")
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// probeAnswer is what a probe returns.
type probeAnswer struct {
	Site    string   `json:"site"`
	Node    string   `json:"node"`
	Serving []string `json:"serving"` // the leading site first
}

// serveProbe answers the page's probe from any origin: a simple CORS GET
// (no preflight: no credentials, no custom header). OPTIONS is answered
// too, with Private Network Access's header, for a page on a public
// address probing a site the browser reaches at a private one.
func (p *Proxy) serveProbe(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		h.Set("Access-Control-Max-Age", "600")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			h.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodHead:
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	serving := p.opts.Sites.Serving()
	if serving == nil {
		serving = []string{}
	}
	writeJSON(w, r, probeAnswer{Site: p.opts.Site, Node: p.opts.Node, Serving: serving})
}

// pageConfig is what the page and the worker read from config.json.
type pageConfig struct {
	Site            string       `json:"site"` // the site that served it
	Sites           []siteOrigin `json:"sites"`
	ProbePath       string       `json:"probe_path"`
	ProbeIntervalMS int64        `json:"probe_interval_ms"`
	ProbeTimeoutMS  int64        `json:"probe_timeout_ms"`
}

type siteOrigin struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
}

// serveConfig lists the sites with their origins, those serving now
// first in their order (the leading site first), then the others by name.
func (p *Proxy) serveConfig(w http.ResponseWriter, r *http.Request) {
	c := pageConfig{
		Site: p.opts.Site, ProbePath: p.opts.Prefix + probePath,
		ProbeIntervalMS: p.opts.ProbeInterval.Milliseconds(), ProbeTimeoutMS: p.opts.ProbeTimeout.Milliseconds(),
	}
	serving := p.opts.Sites.Serving()
	order := make([]string, 0, len(p.origins))
	for _, s := range serving {
		if _, ok := p.opts.Origins[s]; ok && !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	for _, s := range p.origins {
		if !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	for _, s := range order {
		c.Sites = append(c.Sites, siteOrigin{Name: s, Origin: p.opts.Origins[s]})
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, r, c)
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(append(body, '\n'))
}
