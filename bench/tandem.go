package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"text/template"
)

// Tandem is tandem itself, started as `tandem up -f stack.yaml`. Unlike the
// other peers it supervises its own copy of the origin (on a $PORT it
// picks); that process is left out of tandem's CPU and memory figures.
type Tandem struct{}

var _ Peer = Tandem{}

func (Tandem) Name() string    { return "tandem" }
func (Tandem) Program() string { return "tandem" }
func (Tandem) Package() string { return "" }
func (Tandem) Version(ctx context.Context, bin string) string {
	return programVersion(ctx, bin, "--version")
}
func (Tandem) Supports(Mode) (bool, string) { return true, "" }

// ErrCacheNotWired means tandem answered a repeated cacheable GET without
// a Cache-Status hit of its own: the build under test has no cache yet.
var ErrCacheNotWired = errors.New("cache not wired")

// The cache settings of each mode. ---- BENCH-CACHE ----
//
// Proxy mode turns tandem's cache off (edge.cache.memory: 0), so the
// request goes straight from the edge to the balancer as in the other
// peers' proxy-only configs. Cache mode gives it a 256 MiB memory tier and
// no disk tier, like Varnish's malloc storage and HAProxy's cache, with the
// route's cache options at their defaults. When a build has no cache yet,
// CheckCache finds no hit and the cache scenarios report "n/a (cache not
// wired)".
const (
	tandemProxyEdgeCache = `  cache: { memory: 0 }`
	tandemCacheEdgeCache = `  cache: { memory: 256MiB, disk: { size: 0 } }`
	tandemCacheRoute     = `      cache: { bypass: false }`
)

// tandemStack is the stack file. GOMAXPROCS is Go's default (every core),
// the access log is off and tandem's own log at warn.
var tandemStack = template.Must(template.New("stack").Parse(`cluster: { name: bench, data_dir: "{{.Dir}}/data", peer_port: {{index .Cluster 0}}, client_port: {{index .Cluster 1}}, node_port: {{index .Cluster 2}} }
edge:
  listen: "{{.Listen}}"
  access_log: off
  timeouts: { shutdown: 5s }
{{.EdgeCache}}
  routes:
    - path: /
      app: origin
{{- if .RouteCache}}
{{.RouteCache}}
{{- end}}
admin: { listen: "{{.Admin}}" }
log: { level: warn }
apps:
  origin:
    command: ["{{.Origin}}"]
    instances: 1
    health: { path: /healthz }
`))

func (p Tandem) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	edgeCache, routeCache := tandemProxyEdgeCache, ""
	if mode == ModeCache {
		edgeCache, routeCache = tandemCacheEdgeCache, tandemCacheRoute
	}
	var stack bytes.Buffer
	err := tandemStack.Execute(&stack, map[string]any{
		"Dir": w.Dir, "Listen": w.Listen, "Admin": w.Admin, "Cluster": w.Cluster, "Origin": w.OriginBin,
		"EdgeCache": edgeCache, "RouteCache": routeCache,
	})
	if err != nil {
		return nil, fmt.Errorf("tandem stack file: %w", err)
	}
	path, err := writeFile(w.Dir, "stack.yaml", stack.String())
	if err != nil {
		return nil, err
	}
	argv := []string{w.Bin, "up", "-f", path}
	origin, err := filepath.Abs(w.OriginBin)
	if err != nil {
		return nil, fmt.Errorf("tandem origin: %w", err)
	}
	return startInstance(ctx, w, p, mode, argv, nil, origin)
}

// CheckCache asks for /hit/1k twice; the second answer must carry a
// Cache-Status (RFC 9211) entry from tandem saying hit.
func (Tandem) CheckCache(ctx context.Context, in *Instance) error {
	client := &http.Client{}
	defer client.CloseIdleConnections()
	var status string
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL("/hit/1k"), nil)
		if err != nil {
			return fmt.Errorf("check cache: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("check cache: %w", err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the header matters
		resp.Body.Close()
		status = strings.ToLower(strings.Join(resp.Header.Values("Cache-Status"), ", "))
	}
	if !strings.Contains(status, "tandem") || !strings.Contains(status, "hit") {
		return ErrCacheNotWired
	}
	return nil
}
