package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newAuditCmd() *cobra.Command {
	var af adminFlags
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "audit [--limit N]",
		Short: "Show who changed what through the admin API, and who was refused",
		Long: `Show the last entries of the node's audit log (<cluster.data_dir>/admin/audit.log):
every admin API call that changes something, written before it runs
(started) and when it has ended (ok or failed), and every call refused for
want of a valid token or scope (denied). Needs a token with scope admin.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError(c, fmt.Errorf("--limit must be at least 1"))
			}
			audit := func(cl *admin.Client, ctx context.Context) (admin.AuditList, error) {
				es, err := cl.Audit(ctx, limit)
				return admin.AuditList{Entries: es}, err
			}
			return show(c, &af, asJSON, audit, func(c *cobra.Command, es admin.AuditList) {
				printAudit(c.OutOrStdout(), es.Entries)
			})
		},
	}
	af.register(c)
	c.Flags().IntVar(&limit, "limit", 50, "how many entries, the most recent")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func printAudit(w io.Writer, es []admin.AuditEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTOKEN\tREMOTE\tMETHOD\tPATH\tSTATUS\tOUTCOME\tDETAIL")
	for _, e := range es {
		who := e.TokenName
		if e.TokenID != "" {
			who += " (" + e.TokenID + ")"
		}
		status := "-"
		if e.Status != 0 {
			status = strconv.Itoa(e.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), who, e.Remote,
			e.Method, e.Path, status, e.Outcome, cmp.Or(e.Reason, e.Summary))
	}
	tw.Flush()
}
