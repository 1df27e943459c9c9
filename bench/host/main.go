package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a benchmark program's run until it returns or SIGINT or
// SIGTERM cancels its context, and exits: 0 when it succeeded, 2 when
// packages are missing (its error says how to install them), 1 on any
// other failure, with the error on stderr after "bench <name>: ".
func Main(name string, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "bench %s: %v\n", name, err)
	var missing *MissingPackagesError
	if errors.As(err, &missing) {
		os.Exit(2)
	}
	os.Exit(1)
}
