package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newDBCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "db",
		Short: "Show and steer the stack's PostgreSQL (database.postgres)",
		Long: `The stack's PostgreSQL runs as a primary and standbys on the nodes named in
database.postgres.members; a leader lease in the cluster's etcd decides
which is primary, and every node's database endpoint (DATABASE_URL) follows
it.`,
	}
	c.AddCommand(newDBStatusCmd(), newDBSwitchoverCmd(), newDBBackupsCmd(), newDBBackupCmd(), newDBRestoreCmd(),
		newWALPushCmd(), newWALFetchCmd())
	return c
}

func newDBStatusCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the database's members, roles, timelines, LSNs and lag",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).DBStatus, func(c *cobra.Command, st admin.DatabaseStatus) {
				printDBStatus(c.OutOrStdout(), st)
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func newDBSwitchoverCmd() *cobra.Command {
	var af adminFlags
	var to string
	var asJSON bool
	c := &cobra.Command{
		Use:   "switchover [--to NODE]",
		Short: "Move the primary to another member, without losing a write",
		Long: `Hand the primary role over to the member --to names (by default the
synchronous standby, or the most advanced one): the primary checkpoints and
stops accepting writes, the standby catches up to its last record and is
promoted, the old primary follows it as a standby. Writes pause for well
under a second and none is lost; the database endpoints hold new
connections meanwhile. It returns once the new primary runs.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			switchover := func(cl *admin.Client, ctx context.Context) (admin.SwitchoverResult, error) {
				return cl.Switchover(ctx, to)
			}
			return show(c, &af, asJSON, switchover, func(c *cobra.Command, res admin.SwitchoverResult) {
				fmt.Fprintf(c.OutOrStdout(), "switchover done: %s is the primary (%s)\n", res.Leader, res.Took.Round(time.Millisecond))
			})
		},
	}
	af.register(c)
	c.Flags().StringVar(&to, "to", "", "the member to promote (default: the best standby)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printDBStatus shows the database as a node sees it.
func printDBStatus(w io.Writer, st admin.DatabaseStatus) {
	mode := "synchronous"
	if !st.Synchronous {
		mode = "asynchronous"
	}
	leader := st.Leader
	if leader == "" {
		leader = "none (failing over)"
	} else if st.LeaderCause != "" {
		leader += " (" + st.LeaderCause + ")"
	}
	fmt.Fprintf(w, "database: %s replication; primary %s", mode, leader)
	if st.SyncStandby != "" {
		fmt.Fprintf(w, "; synchronous standby %s", st.SyncStandby)
	}
	fmt.Fprintln(w)
	if st.Failsafe {
		fmt.Fprintln(w, "FAILSAFE: the primary runs without etcd, kept by its synchronous standby")
	}
	if !st.StoreReachable {
		fmt.Fprintln(w, "WARNING: this node has not read the database's state from etcd recently; what follows may be old")
	}
	if st.Error != "" {
		fmt.Fprintf(w, "this member's last failed action: %s\n", st.Error)
	}
	if st.OneZone != "" {
		fmt.Fprintf(w, "WARNING: every member is in zone %s: losing that zone stops the database; name members in two zones or more (database.postgres.members)\n", st.OneZone)
	}
	if st.DiskFull != "" {
		fmt.Fprintf(w, "DISK FULL: %s\n", st.DiskFull)
	}
	fmt.Fprintf(w, "this node (%s) sends DATABASE_URL to %s and DATABASE_READ_URL to %s\n\n", st.Node, orDash(st.Primary), orDash(st.Standby))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tZONE\tADDR\tROLE\tTIMELINE\tLSN\tREPLAYED\tLAG\tSYNC")
	for _, m := range st.Members {
		name, lag, role := m.Name, "-", m.Role
		if m.Leader {
			name += " *"
		}
		if m.DiskFull {
			role += " (disk full)"
		}
		if !m.Leader && (m.Streaming || m.LagBytes > 0) {
			lag = fmt.Sprintf("%s, %.1fs", bytesText(m.LagBytes), m.LagSecs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, orDash(m.Zone), m.Addr, role, m.Timeline, m.LSN, m.ReplayLSN, lag, orDash(m.Sync))
	}
	tw.Flush()
}

// bytesText writes n bytes in the largest unit that keeps it above 1.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
