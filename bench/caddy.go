package main

import (
	"context"
	"fmt"
	"net"
	"os"
)

// Caddy is Caddy's reverse_proxy. Debian's Caddy 2.6 has no HTTP cache
// (that is the third-party cache-handler plugin), so cache mode is n/a.
type Caddy struct{}

var _ Peer = Caddy{}

func (Caddy) Name() string    { return "caddy" }
func (Caddy) Program() string { return "caddy" }
func (Caddy) Package() string { return "caddy" }
func (Caddy) Version(ctx context.Context, bin string) string {
	return programVersion(ctx, bin, "version")
}

func (Caddy) Supports(mode Mode) (bool, string) {
	if mode == ModeCache {
		return false, "no cache in Debian's Caddy 2.6"
	}
	return true, ""
}

// caddyFile: no admin endpoint, no automatic HTTPS, logs discarded (Caddy
// writes no access log unless asked to), any Host on the loopback port (no
// host matcher), a keep-alive pool to the origin as large as the other
// peers'. Caddy saves the adapted config under $XDG_CONFIG_HOME, which
// points into the temp dir.
const caddyFile = `{
	admin off
	auto_https off
	log {
		output discard
	}
}
http://:%s {
	bind %s
	reverse_proxy %s {
		transport http {
			keepalive 120s
			keepalive_idle_conns_per_host 512
		}
	}
}
`

func (p Caddy) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	host, port, err := net.SplitHostPort(w.Listen)
	if err != nil {
		return nil, fmt.Errorf("caddy listen %q: %w", w.Listen, err)
	}
	path, err := writeFile(w.Dir, "Caddyfile", fmt.Sprintf(caddyFile, port, host, w.Origin))
	if err != nil {
		return nil, err
	}
	argv := []string{w.Bin, "run", "--config", path, "--adapter", "caddyfile"}
	// Caddy keeps state under $HOME / XDG dirs; point them into the temp dir.
	env := append(os.Environ(), "HOME="+w.Dir, "XDG_DATA_HOME="+w.Dir, "XDG_CONFIG_HOME="+w.Dir)
	return startInstance(ctx, w, p, mode, argv, env, "")
}
