package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newChecksCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "checks [NAME]",
		Short: "Show the uptime checks: up or down for every node, and the last probes",
		Long: `Show the uptime checks of the stack file's checks section. A check is down
when a majority of the nodes that reported recently see it failing; NODES
shows each node's own view. With NAME, show that check's nodes and this
node's recent probes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			checks, err := cl.Checks(c.Context())
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if len(args) == 0 {
				if asJSON {
					return printJSON(out, checks)
				}
				printChecks(out, checks, time.Now())
				return nil
			}
			for _, ch := range checks {
				if ch.Name == args[0] {
					if asJSON {
						return printJSON(out, ch)
					}
					printCheck(out, ch, time.Now())
					return nil
				}
			}
			return &exitError{code: ExitUsage, err: fmt.Errorf("no check %q", args[0])}
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func printChecks(w io.Writer, checks []admin.CheckStatus, now time.Time) {
	if len(checks) == 0 {
		fmt.Fprintln(w, "no checks")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATE\tSINCE\tCHECKED\tLATENCY\tNODES\tURL\tLAST ERROR")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, strings.ToUpper(c.State), ago(now, c.Since), ago(now, c.LastChecked),
			checkLatency(c.LatencyMS, c.LastChecked), nodeStates(c.Nodes), c.URL, orDash(c.LastError))
	}
	tw.Flush()
}

func printCheck(w io.Writer, c admin.CheckStatus, now time.Time) {
	fmt.Fprintf(w, "check %s: %s since %s, %s\n", c.Name, strings.ToUpper(c.State), ago(now, c.Since), c.URL)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tREPORTED\tERROR")
	for _, node := range slices.Sorted(maps.Keys(c.Nodes)) {
		v := c.Nodes[node]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", node, v.State, ago(now, v.At), orDash(v.Error))
	}
	tw.Flush()
	if len(c.History) == 0 {
		return
	}
	fmt.Fprintf(w, "\nlast probes from this node (newest first):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tRESULT\tLATENCY")
	for i := len(c.History) - 1; i >= 0 && i >= len(c.History)-10; i-- {
		p := c.History[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ago(now, p.At), p.State, checkLatency(p.LatencyMS, p.At))
	}
	tw.Flush()
}

// nodeStates sums up the nodes' views: "2 up, 1 down".
func nodeStates(nodes map[string]admin.CheckVerdict) string {
	count := map[string]int{}
	for _, v := range nodes {
		count[v.State]++
	}
	var parts []string
	for _, s := range []string{"up", "down", "unknown"} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func checkLatency(ms float64, at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	d := time.Duration(ms * float64(time.Millisecond))
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
