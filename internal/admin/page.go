package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// The status page: index.html at "/", its scripts, styles and the
// vendored chart library under "/ui/". Everything is in the binary, so the
// page works with no internet access. The files are static: the page reads
// the node's state from the JSON API with the bearer token the user gives
// it, so serving them needs no token.
//
//go:embed ui
var uiFiles embed.FS

// pageCSP allows only the node's own scripts, styles and API: no inline
// script, no other origin, no framing. Scripts may still set element
// styles through the DOM (the chart library sizes its canvas that way),
// which 'self' permits.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// assetTypes are the file kinds served under /ui/; other embedded files
// (checksums, licence texts) are in the binary but not served.
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Caching: index.html is always revalidated (no-cache + ETag), and it
// names every asset with its content hash in the query ("app.js?v=1a2b…").
// An asset asked for with its current hash never changes, so it is cached
// for a year as immutable; asked for without it (or with an old hash) it is
// revalidated like the page. A new binary thus shows its own assets on the
// next load, and polling the page costs one 304.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
)

// asset is one file the page handler serves.
type asset struct {
	name  string // base name, for http.ServeContent
	body  []byte
	ctype string
	hash  string // first 16 hex digits of the SHA-256 of body
}

// page serves the status page and its assets.
type page struct {
	index  asset
	assets map[string]asset // by path under ui/, e.g. "vendor/uPlot.min.css"
}

// registerPage mounts the status page on mux: "/" exactly and "/ui/".
// Other paths (unknown /v1/ endpoints among them) are left to mux.
func (s *Server) registerPage(mux *http.ServeMux) error {
	p, err := newPage(uiFiles)
	if err != nil {
		return err
	}
	mux.HandleFunc("GET /{$}", p.serveIndex)
	mux.HandleFunc("GET /ui/{file...}", p.serveAsset)
	return nil
}

// newPage reads the page's files from fsys (with a ui/ directory) and
// points index.html at the assets' hashed URLs.
func newPage(fsys fs.FS) (*page, error) {
	p := &page{assets: make(map[string]asset)}
	err := fs.WalkDir(fsys, "ui", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := assetTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		p.assets[strings.TrimPrefix(name, "ui/")] = asset{name: path.Base(name), body: body, ctype: ctype, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load status page: %w", err)
	}
	index, ok := p.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("load status page: no ui/index.html")
	}
	delete(p.assets, "index.html")
	html := index.body
	for rel, a := range p.assets {
		ref := []byte(`"/ui/` + rel + `"`)
		html = bytes.ReplaceAll(html, ref, []byte(`"/ui/`+rel+"?v="+a.hash+`"`))
	}
	sum := sha256.Sum256(html)
	p.index = asset{name: "index.html", body: html, ctype: index.ctype, hash: hex.EncodeToString(sum[:8])}
	return p, nil
}

func (p *page) serveIndex(w http.ResponseWriter, r *http.Request) {
	p.serve(w, r, p.index, cacheRevalid)
}

// serveAsset serves a file under /ui/. Directories and files that are not
// assets are 404s: there are no listings.
func (p *page) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("file")]
	if !ok {
		securityHeaders(w.Header())
		http.NotFound(w, r)
		return
	}
	cache := cacheRevalid
	if r.URL.Query().Get("v") == a.hash {
		cache = cacheImmutable
	}
	p.serve(w, r, a, cache)
}

func (p *page) serve(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", `"`+a.hash+`"`)
	// ServeContent answers If-None-Match with a 304 and serves ranges.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// PageURL is the address of the node's status page. With a token, the
// page reads it from the URL fragment, which the browser never sends to
// the server, and then removes it from the address bar.
func (c *Client) PageURL(token string) string {
	u := "http://" + c.addr + "/"
	if token != "" {
		u += "#" + url.Values{"token": {token}}.Encode()
	}
	return u
}
