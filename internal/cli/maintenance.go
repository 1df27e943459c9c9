package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newPauseCmd() *cobra.Command {
	var af adminFlags
	var hold, drain time.Duration
	c := &cobra.Command{
		Use:   "pause APP",
		Short: "Hold an app's incoming requests while something is done",
		Long: `Hold APP's new requests at the edge (each for at most --hold, then it gets a
503), and return once the requests in flight have finished (at most
--drain). Do the work, then tandem resume APP: the held requests go on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			g, err := cl.Pause(c.Context(), args[0], admin.PauseRequest{Hold: hold, Drain: drain})
			if err != nil {
				return err
			}
			printGate(c.OutOrStdout(), args[0], g)
			if g.InFlight > 0 {
				return fmt.Errorf("pause %s: %d requests still in flight after %s", args[0], g.InFlight, drain)
			}
			return nil
		},
	}
	af.register(c)
	c.Flags().DurationVar(&hold, "hold", 30*time.Second, "how long each request is held before it gets a 503")
	c.Flags().DurationVar(&drain, "drain", 30*time.Second, "how long to wait for the requests in flight")
	return c
}

func newMaintenanceCmd() *cobra.Command {
	var af adminFlags
	var message string
	c := &cobra.Command{
		Use:   "maintenance APP on|off",
		Short: "Serve a 503 maintenance page for an app, or stop serving it",
		Long: `With on, every request to APP gets a 503 page showing --message (also
after tandem restarts); off (or tandem resume APP) ends it.`,
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"on", "off"},
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			var g admin.GateStatus
			switch args[1] {
			case "on":
				g, err = cl.Maintenance(c.Context(), args[0], admin.MaintenanceRequest{Message: message})
			case "off":
				g, err = cl.Resume(c.Context(), args[0])
			default:
				return usageError(c, fmt.Errorf("want on or off, got %q", args[1]))
			}
			if err != nil {
				return err
			}
			printGate(c.OutOrStdout(), args[0], g)
			return nil
		},
	}
	af.register(c)
	c.Flags().StringVar(&message, "message", "", "the text of the maintenance page")
	return c
}

func newResumeCmd() *cobra.Command {
	var af adminFlags
	c := &cobra.Command{
		Use:   "resume APP",
		Short: "End a pause or maintenance of an app",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			g, err := cl.Resume(c.Context(), args[0])
			if err != nil {
				return err
			}
			printGate(c.OutOrStdout(), args[0], g)
			return nil
		},
	}
	af.register(c)
	return c
}

func printGate(w io.Writer, app string, g admin.GateStatus) {
	fmt.Fprintf(w, "app %s: %s\n", app, describeGate(g))
}

func describeGate(g admin.GateStatus) string {
	switch g.Mode {
	case "paused":
		return fmt.Sprintf("paused (requests held up to %s; %d held, %d in flight)", g.Hold, g.Held, g.InFlight)
	case "maintenance":
		return fmt.Sprintf("maintenance page: %q", g.Message)
	}
	return "open"
}
