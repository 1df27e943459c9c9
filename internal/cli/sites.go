package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newSitesCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "sites",
		Short: "Show the sites: which leads, which are up, replication lag, an emergency",
		Long: `A cluster spread over sites (the sites section of the stack file) has a
leader site, which holds the database primary, and follower sites. When
the leader site has been unreachable for sites.emergency_after, as seen by
the nodes that hold the control plane's quorum, an emergency is declared:
a follower site's database standby is promoted and its critical apps
start. tandem sites failback hands the lead back once the leader site is
back.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).Sites, func(c *cobra.Command, st admin.SitesStatus) {
				printSites(c.OutOrStdout(), st, time.Now())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	c.AddCommand(newSitesFailbackCmd())
	return c
}

func newSitesFailbackCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "failback",
		Short: "Hand the lead back to the leader site and end the emergency",
		Long: `Once the leader site is back and its database members have caught up with
the emergency leader, switch the database primary over to the leader site's
most caught-up member (a planned switchover: writes pause for well under a
second and none is lost), then end the emergency: the follower sites stop
their emergency instances and serve every route again. It is refused while
the leader site is down or its database is still catching up.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).Failback, func(c *cobra.Command, res admin.FailbackResult) {
				fmt.Fprintf(c.OutOrStdout(), "failback done: site %s leads again", res.Site)
				if res.Target != "" {
					fmt.Fprintf(c.OutOrStdout(), "; database primary %s (switchover %s)", res.Target, res.Switchover.Round(time.Millisecond))
				}
				fmt.Fprintln(c.OutOrStdout())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printSites shows the sites as a node sees them.
func printSites(w io.Writer, st admin.SitesStatus, now time.Time) {
	leading := st.Leading
	if leading == "" {
		leading = "none known"
	}
	fmt.Fprintf(w, "sites: %s leads (leader site %s); this node %s in site %s, %s mode\n", leading, st.LeaderSite, st.Node, st.Site, st.Mode)
	if e := st.Emergency; e != nil {
		fmt.Fprintf(w, "EMERGENCY since %s (%s ago): site %s unreachable, declared by %s: %s\n",
			e.Since.Format(time.RFC3339), shortDuration(now.Sub(e.Since)), e.Site, e.By, e.Cause)
		fmt.Fprintf(w, "failback: %s", st.Failback)
		if st.Failback == "auto" {
			fmt.Fprintf(w, " once site %s has been back and caught up for %s", e.Site, st.StableFor)
		} else {
			fmt.Fprint(w, " (tandem sites failback)")
		}
		fmt.Fprintln(w)
	}
	if !st.Quorum {
		fmt.Fprintf(w, "WARNING: this node does not reach the control plane's quorum (%s); what follows may be old\n", orDash(st.ReadError))
	}
	if len(st.Changes) > 0 && st.Mode == "emergency" {
		fmt.Fprintf(w, "this node's mode: %s\n", strings.Join(st.Changes, "; "))
	}
	if fb := st.LastFailback; fb != nil {
		res := "done"
		if fb.Error != "" {
			res = "failed: " + fb.Error
		}
		fmt.Fprintf(w, "last failback here %s ago: %s\n", shortDuration(now.Sub(fb.Ended)), res)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tROLE\tSTATE\tNODES UP\tDB LAG")
	for _, s := range st.Sites {
		role := "follower"
		if s.Leader {
			role = "leader"
		}
		if s.Primary {
			role += ", primary"
		}
		state := "down"
		if s.Up {
			state = "up"
		}
		lag := "-"
		if s.LagBytes >= 0 {
			lag = fmt.Sprintf("%s, %.1fs", bytesText(s.LagBytes), s.LagSeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d %s\t%s\n", s.Name, role, state, len(s.UpNodes), len(s.Nodes), strings.Join(s.Nodes, ","), lag)
	}
	tw.Flush()
}
