package main

import (
	"context"
	"runtime"
)

// GoHTTP is not a proxy: it is a copy of the origin, a plain Go net/http
// server, answering the cache scenarios itself from its fixed bodies. Its
// figures are the floor of what Go's HTTP server costs on the machine — a
// cache hit in tandem is that server's work plus the cache's — so that the
// table shows how much of tandem's cost is its own and how much is
// net/http's. It has no proxy mode.
type GoHTTP struct{}

var _ Peer = GoHTTP{}

func (GoHTTP) Name() string    { return "go-http" }
func (GoHTTP) Program() string { return "origin" }
func (GoHTTP) Package() string { return "" }

// Version is the Go release the harness, and so the origin, is built with.
func (GoHTTP) Version(context.Context, string) string { return "net/http " + runtime.Version() }

func (GoHTTP) Supports(mode Mode) (bool, string) {
	if mode == ModeProxy {
		return false, "not a proxy: the origin itself, the floor of Go's HTTP server"
	}
	return true, ""
}

// Start runs a copy of the origin on the peer's own port; its CPU and
// memory are the peer's. It answers /_count itself, so its origin share
// is 1: every request is served by the origin, which here is the peer.
func (p GoHTTP) Start(ctx context.Context, w *Workspace, mode Mode) (*Instance, error) {
	return startInstance(ctx, w, p, mode, []string{w.OriginBin, "-addr", w.Listen}, nil, "")
}
