// Command tandem runs a web monolith the way the cloud would, on machines
// its users own. See the README and docs/ for what it does.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandem-run/tandem/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful stop, restore the
		// default action so a second one ends tandem at once (its app
		// processes die with it: they carry a parent-death signal).
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
