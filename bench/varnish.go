package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
)

// Varnish is varnishd with its default thread pools and 256 MiB of malloc
// storage. Varnish always caches; the pass-through path is sent to the
// origin with return(pass), so the same VCL serves both modes.
type Varnish struct{}

var _ Peer = Varnish{}

func (Varnish) Name() string                 { return "varnish" }
func (Varnish) Program() string              { return "varnishd" }
func (Varnish) Package() string              { return "varnish" }
func (Varnish) Supports(Mode) (bool, string) { return true, "" }
func (Varnish) Version(ctx context.Context, bin string) string {
	return programVersion(ctx, bin, "-V")
}

const varnishVCL = `vcl 4.1;
backend origin {
  .host = "%s";
  .port = "%s";
}
sub vcl_recv {
  if (req.url ~ "^/(pass/|_count|healthz)") {
    return (pass);
  }
}
`

func (p Varnish) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	host, port, err := net.SplitHostPort(w.Origin)
	if err != nil {
		return nil, fmt.Errorf("varnish origin %q: %w", w.Origin, err)
	}
	vcl, err := writeFile(w.Dir, "bench.vcl", fmt.Sprintf(varnishVCL, host, port))
	if err != nil {
		return nil, err
	}
	// -F: foreground (the manager; it forks the cache child). -j none: no
	// privilege separation jail, so the work dir in the temp dir is usable
	// as is. -T none: no management CLI port. Varnish writes its log to
	// shared memory only; nothing reads it during the benchmark.
	argv := []string{w.Bin, "-F", "-j", "none", "-T", "none",
		"-n", filepath.Join(w.Dir, "varnish"), "-a", w.Listen, "-f", vcl, "-s", "malloc,256m"}
	return startInstance(ctx, w, p, mode, argv, nil, "")
}
