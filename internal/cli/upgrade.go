package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/handover"
)

// upgradePoll is how often tandem upgrade asks the node how the upgrade
// goes; upgradeAsk bounds each question: while the node hands over, its
// admin API does not answer (calls wait in its listener's backlog).
const (
	upgradePoll = 200 * time.Millisecond
	upgradeAsk  = 5 * time.Second
)

func newUpgradeCmd() *cobra.Command {
	var af adminFlags
	var binary string
	var drain, wait time.Duration
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Replace a running node's tandem binary without dropping a request",
		Long: `Replace the tandem binary of a running node in place, the way nginx upgrades
its binary: the node checks the new binary (it runs, speaks this node's
handover format and accepts the stack file), stops accepting on the edge (new
connections wait in the kernel's backlog), lets the requests in flight
finish (at most --drain), and execs the new binary in its own process. The
new binary takes the listeners and the running instances over, without
restarting them, and serves. This command waits until the node answers with
the new binary, and says how long the handover took.

--binary defaults to the path the node was started from, where a package
manager puts a new version. The node refuses while a deploy or job runs or
an app is paused. If the new binary cannot take the node over, the node goes
back to the binary it ran; the command then fails and says why. Needs a
token with the admin scope. See docs/operations.md.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			if binary != "" {
				if binary, err = filepath.Abs(binary); err != nil {
					return usageError(c, fmt.Errorf("--binary: %w", err))
				}
			}
			st, err := cl.Upgrade(c.Context(), admin.UpgradeRequest{Binary: binary, Drain: drain, Who: whoAmI()})
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "upgrading from %s to %s (%s); new connections wait while the node hands over\n", st.From, st.To, st.Binary)
			done, err := awaitUpgrade(c.Context(), cl, st.ID, wait)
			if err != nil {
				return err
			}
			return reportUpgrade(out, done)
		},
	}
	af.register(c)
	c.Flags().StringVar(&binary, "binary", "", "the new tandem binary's path on the node (default: the path the node was started from)")
	c.Flags().DurationVar(&drain, "drain", 10*time.Second, "how long the requests in flight may take before the handover")
	c.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the node to answer with the new binary")
	return c
}

// awaitUpgrade asks the node for the upgrade id until it has ended (the
// node answers with the new binary, or with the old one after a
// fallback), or wait has passed.
func awaitUpgrade(ctx context.Context, cl *admin.Client, id string, wait time.Duration) (admin.UpgradeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(upgradePoll)
	defer t.Stop()
	var lastErr error
	for {
		actx, acancel := context.WithTimeout(ctx, upgradeAsk)
		st, err := cl.Status(actx)
		acancel()
		switch {
		case err == nil && st.Upgrade != nil && st.Upgrade.ID == id && st.Upgrade.Result != admin.UpgradeRunning:
			return *st.Upgrade, nil
		case err != nil:
			lastErr = err // handing over: the node does not answer for a moment
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return admin.UpgradeStatus{}, fmt.Errorf("upgrade %s: the node did not report its end within %s (last: %v); see tandem status and the node's log", id, wait, lastErr)
			}
			return admin.UpgradeStatus{}, ctx.Err()
		case <-t.C:
		}
	}
}

// reportUpgrade prints how the upgrade ended; a failed one is an error.
func reportUpgrade(w io.Writer, st admin.UpgradeStatus) error {
	took := st.Finished.Sub(st.Started).Round(time.Millisecond)
	if st.Result != admin.UpgradeSucceeded {
		return fmt.Errorf("upgrade to %s failed after %s; the node runs %s again: %s", st.To, took, st.From, st.Error)
	}
	fmt.Fprintf(w, "node runs %s (%s); handed over in %s\n", st.To, st.Binary, took)
	return nil
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print tandem's version",
		Long: `Print tandem's version, and the handover format it speaks: a node is
upgraded in place only to a binary that speaks the format it writes.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if asJSON {
				return printJSON(c.OutOrStdout(), map[string]any{"version": Version, "handover": handover.Format})
			}
			fmt.Fprintf(c.OutOrStdout(), "tandem %s (handover format %d)\n", Version, handover.Format)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
