package main

import (
	"context"
	"fmt"
)

// HAProxy is haproxy as a plain HTTP proxy with keep-alive to the origin
// and, in cache mode, its small-object cache. HAProxy's cache keeps whole
// objects in shared memory: max-object-size is raised from its default
// (total-max-size / 256 = 1 MiB here) only to be explicit, and must stay
// under half of total-max-size.
type HAProxy struct{}

var _ Peer = HAProxy{}

func (HAProxy) Name() string                 { return "haproxy" }
func (HAProxy) Program() string              { return "haproxy" }
func (HAProxy) Package() string              { return "haproxy" }
func (HAProxy) Supports(Mode) (bool, string) { return true, "" }
func (HAProxy) Version(ctx context.Context, bin string) string {
	return programVersion(ctx, bin, "-v")
}

const haproxyConf = `global
  nbthread 2
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
frontend bench
  bind %s
  default_backend origin
backend origin
  server origin %s maxconn 0
%s`

const haproxyCache = `  http-request cache-use bench
  http-response cache-store bench
cache bench
  total-max-size 256
  max-object-size 1048576
  max-age 3600
`

func (p HAProxy) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	cache := ""
	if mode == ModeCache {
		cache = haproxyCache
	}
	path, err := writeFile(w.Dir, "haproxy.cfg", fmt.Sprintf(haproxyConf, w.Listen, w.Origin, cache))
	if err != nil {
		return nil, err
	}
	// -db: foreground, one process (threads), no log section: no logs.
	argv := []string{w.Bin, "-db", "-f", path}
	return startInstance(ctx, w, p, mode, argv, nil, "")
}
