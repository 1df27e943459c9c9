package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Mode is how a peer is configured for a scenario.
type Mode string

// Modes. Each scenario runs against one.
const (
	ModeProxy Mode = "proxy" // plain reverse proxy, nothing cached
	ModeCache Mode = "cache" // the peer's HTTP cache in front of the origin
)

// Peer is one proxy under test. Implementations write the peer's config
// into a temp dir and start it on a loopback port; they never touch the
// system's config files or services.
type Peer interface {
	// Name is how tables and flags call it: "nginx", "tandem", ...
	Name() string
	// Program is the executable looked up on PATH (and /usr/sbin).
	Program() string
	// Package is the Debian package that provides Program; "" when the
	// harness builds it (tandem).
	Package() string
	// Version runs the program to ask for its version.
	Version(ctx context.Context, bin string) string
	// Supports reports whether the peer can run in mode; when it cannot,
	// reason says why ("no cache in Caddy 2.6").
	Supports(mode Mode) (ok bool, reason string)
	// Start starts the peer in mode on w.Listen, proxying to w.Origin, and
	// returns once it answers /healthz through itself.
	Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error)
}

// Workspace is what a peer's Start gets: where to write its files and run,
// the addresses, and the harness's process tracker.
type Workspace struct {
	Procs     *Procs
	Dir       string // a fresh directory for this start; removed by the harness
	Bin       string // the peer's executable, absolute
	Listen    string // 127.0.0.1:port the peer listens on
	Admin     string // 127.0.0.1:port for a peer's admin API (tandem)
	Cluster   [3]int // tandem's etcd peer, etcd client and node-to-node ports
	Origin    string // 127.0.0.1:port of the shared origin (not used by tandem)
	OriginBin string // the origin executable (tandem supervises its own copy)
}

// Instance is a running peer.
type Instance struct {
	Peer Peer
	Mode Mode
	Addr string // where clients connect
	Tree Tree   // the peer's own processes, for CPU and memory
	proc *Proc
}

// URL is the absolute URL of path on the instance.
func (in *Instance) URL(path string) string { return "http://" + in.Addr + path }

// Stop stops the peer's whole process tree.
func (in *Instance) Stop(procs *Procs) { procs.Stop(in.proc, 10*time.Second) }

// startInstance starts argv as peer p and waits until GET /healthz through
// it answers 200. skipExe is excluded from its process tree.
func startInstance(ctx context.Context, w *Workspace, p Peer, mode Mode, argv, env []string, skipExe string) (*Instance, error) {
	proc, err := w.Procs.Start(ProcSpec{Name: p.Name(), Argv: argv, Env: env, Dir: w.Dir})
	if err != nil {
		return nil, err
	}
	in := &Instance{Peer: p, Mode: mode, Addr: w.Listen, Tree: Tree{root: proc.Pid(), skipExe: skipExe}, proc: proc}
	if err := waitReady(ctx, in.URL("/healthz"), proc, 60*time.Second); err != nil {
		in.Stop(w.Procs)
		return nil, fmt.Errorf("start %s (%s): %w", p.Name(), mode, err)
	}
	return in, nil
}

// waitReady polls url every 50 ms until it answers 200, proc exits, ctx
// ends or limit passes.
func waitReady(ctx context.Context, url string, proc *Proc, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait ready: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-proc.Done():
			return proc.exitError()
		case <-ctx.Done():
			return fmt.Errorf("wait ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %w; output: %s", limit, last, proc.Output())
}

// writeFile writes a peer's config file into dir and returns its path.
func writeFile(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return path, nil
}
