package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"text/template"

	"github.com/tandem-run/tandem/bench/host"
)

// Nginx is nginx as a reverse proxy (proxy_pass to an upstream with
// keep-alive) and, in cache mode, with proxy_cache on a cache directory.
type Nginx struct{}

var _ Peer = Nginx{}

func (Nginx) Name() string                 { return "nginx" }
func (Nginx) Program() string              { return "nginx" }
func (Nginx) Package() string              { return "nginx" }
func (Nginx) Supports(Mode) (bool, string) { return true, "" }
func (Nginx) Version(ctx context.Context, bin string) string {
	return programVersion(ctx, bin, "-v")
}

// nginxConf is equivalent to the other peers: 2 workers, no access log,
// error log at crit only, unlimited keep-alive requests on both sides, a
// keep-alive pool to the origin, buffers large enough that a 100 KiB
// response is not spooled to a temp file.
var nginxConf = template.Must(template.New("nginx").Parse(host.NginxPreamble + `  upstream origin {
    server {{.Origin}};
    keepalive 512;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
  }
{{- if .Cache}}
  proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=bench:64m max_size=1g inactive=1h use_temp_path=off;
{{- end}}
  server {
    listen {{.Listen}};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 16k;
      proxy_buffers 16 16k;
{{- if .Cache}}
      proxy_cache bench;
{{- end}}
    }
  }
}
`))

func (p Nginx) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	var conf bytes.Buffer
	err := nginxConf.Execute(&conf, map[string]any{
		"Dir": w.Dir, "Listen": w.Listen, "Origin": w.Origin,
		"Cache": mode == ModeCache, "Root": os.Geteuid() == 0,
	})
	if err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	path, err := writeFile(w.Dir, "nginx.conf", conf.String())
	if err != nil {
		return nil, err
	}
	// -e: the error log before the config is read (nginx ≥ 1.19.5).
	argv := []string{w.Bin, "-p", w.Dir, "-c", path, "-e", "stderr"}
	return startInstance(ctx, w, p, mode, argv, nil, "")
}
