// Command bench compares tandem with nginx, Varnish, HAProxy and Caddy on
// the same machine in one run: pass-through, cache hits, a 10%-miss mix
// and 1,000 keep-alive connections, measuring requests/s, latency, CPU
// time per request and memory of each proxy's own processes. See
// docs/benchmarks.md.
//
//	go run ./bench -rounds 3
//
// It installs nothing: when a Debian package it needs is missing it prints
// the apt-get line and exits 2. `go test ./bench/...` runs a smoke run of
// tandem alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandem-run/tandem/bench/host"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the run failed
	exitUsage   = 2 // bad flags, or packages missing
	exitStopped = 130
)

func main() {
	os.Exit(mainCode())
}

func mainCode() int {
	o, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = run(ctx, o, os.Stdout, os.Stderr)
	var missing *host.MissingPackagesError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &missing):
		fmt.Fprintf(os.Stderr, "bench: %v", err)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "bench: stopped: %v\n", err)
		return exitStopped
	}
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	return exitFailed
}
