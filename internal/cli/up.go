package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/handover"
	"github.com/tandem-run/tandem/internal/node"
)

func newUpCmd(opts Options, args []string) *cobra.Command {
	var file, join string
	c := &cobra.Command{
		Use:   "up",
		Short: "Run a node in the foreground from a stack file",
		Long: `Run a node in the foreground: start the stack's app instances, the edge
and the admin API. SIGINT or SIGTERM stops it gracefully: the edge stops
accepting, in-flight requests finish (edge.timeouts.shutdown), then the
instances are stopped (stop signal, grace, SIGKILL). A second signal ends
tandem at once; its instances die with it (a keeper process kills them,
their children too, whenever tandem ends).

The first start creates a one-member cluster in cluster.data_dir, or, with
--join, joins the cluster of the node that made the token (see tandem
cluster token). Later starts rejoin whatever cluster the data directory
belongs to.

tandem upgrade replaces the binary of a running node in place: the node
execs the new binary with the same arguments, which takes the listeners
and the running instances over (see docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// A binary that ran this node before an upgrade handed it
			// over: take it over, or fall back to that binary.
			h, err := handover.Open(os.Getenv(handover.Env))
			os.Unsetenv(handover.Env) // not for the apps, nor the next upgrade's checks
			if err != nil {
				return fmt.Errorf("take the node over: %w (its instances end with this process)", err)
			}
			st, err := config.Load(file)
			if err != nil {
				return h.FallBack(err, os.Environ())
			}
			logger := newLogger(c.ErrOrStderr(), st.Log)
			accessLog, closeLog, err := openAccessLog(st.Edge.AccessLog, c.OutOrStdout())
			if err != nil {
				return h.FallBack(err, os.Environ())
			}
			defer closeLog()
			return node.Serve(c.Context(), node.Options{
				Stack:     st,
				Logger:    logger,
				AccessLog: accessLog,
				Environ:   os.Environ(),
				Version:   Version,
				Join:      join,
				Keeper:    opts.Keeper,
				Program:   opts.Program,
				Args:      args,
				Handover:  h,
			})
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "tandem.yaml", "stack file")
	c.Flags().StringVar(&join, "join", os.Getenv("TANDEM_JOIN"), "join token from `tandem cluster token` (first start only; default $TANDEM_JOIN)")
	return c
}

func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openAccessLog returns where access log lines go: stdout, nowhere, or an
// append-only file.
func openAccessLog(where string, stdout io.Writer) (io.Writer, func(), error) {
	switch where {
	case "", "stdout":
		return stdout, func() {}, nil
	case "off":
		return nil, func() {}, nil
	}
	f, err := os.OpenFile(where, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("open access log: %w", err)
	}
	return f, func() { f.Close() }, nil
}
