// Command tandem runs a web monolith the way the cloud would, on machines
// its users own. See the README and docs/ for what it does.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandem-run/tandem/internal/cli"
	"github.com/tandem-run/tandem/internal/storage"
	"github.com/tandem-run/tandem/internal/supervise"
)

func main() {
	// The supervisor runs this binary as its keeper (a hidden mode): it
	// kills the app processes if tandem dies. Nothing else may run first.
	if len(os.Args) > 1 && os.Args[1] == supervise.KeeperArg {
		os.Exit(supervise.KeeperMain())
	}
	// The node runs this binary as its embedded object store (a hidden
	// mode): a supervised process of its own.
	if len(os.Args) > 1 && os.Args[1] == storage.GatewayArg {
		os.Exit(storage.GatewayMain(os.Args[2:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful stop, restore the
		// default action so a second one ends tandem at once (its app
		// processes die with it: the supervisor's keeper kills them).
		<-ctx.Done()
		stop()
	}()
	keeper, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tandem: no keeper: %v; app processes may outlive tandem\n", err)
	}
	os.Exit(cli.Run(ctx, cli.Options{Keeper: keeper}, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
