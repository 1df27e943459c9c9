package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newClusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Grow, inspect and shrink the cluster of nodes",
		Long: `A node starts as a one-member cluster. To add a node in another zone:

  tandem cluster token                       # on a node already in the cluster
  tandem up -f stack.yaml --join <token>     # on the new node, first start only

The new node's stack file sets cluster.advertise to an address the others
reach, and its own cluster.zone. Three or five nodes in different zones keep
a quorum when one zone is lost.`,
	}
	c.AddCommand(newClusterTokenCmd(), newClusterMembersCmd(), newClusterRemoveCmd())
	return c
}

func newClusterTokenCmd() *cobra.Command {
	var af adminFlags
	var ttl time.Duration
	var asJSON bool
	c := &cobra.Command{
		Use:   "token",
		Short: "Create a token a new node joins the cluster with",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if ttl < 0 || ttl > admin.MaxJoinTokenTTL {
				return &exitError{code: ExitUsage, err: fmt.Errorf("--ttl %v: must be positive and at most %v", ttl, admin.MaxJoinTokenTTL)}
			}
			joinToken := func(cl *admin.Client, ctx context.Context) (admin.JoinToken, error) { return cl.JoinToken(ctx, ttl) }
			return show(c, &af, asJSON, joinToken, func(c *cobra.Command, tok admin.JoinToken) {
				fmt.Fprintln(c.OutOrStdout(), tok.Token)
				fmt.Fprintf(c.ErrOrStderr(), "valid until %s; start the new node with the token in $TANDEM_JOIN (not on the command line, where ps shows it):\n  TANDEM_JOIN=<token> tandem up -f <stack file>\n", tok.Expires.Local().Format(time.DateTime))
			})
		},
	}
	af.register(c)
	c.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token can be used (at most 168h)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newClusterMembersCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's etcd members",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).Members, func(c *cobra.Command, ms []admin.ClusterMember) {
				printMembers(c.OutOrStdout(), ms)
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func newClusterRemoveCmd() *cobra.Command {
	var af adminFlags
	c := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a node's etcd member from the cluster",
		Long: `Remove a node's etcd member, for a node that is gone for good. The node is
refused when removing it would leave the cluster without a quorum.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			if err := cl.RemoveMember(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	af.register(c)
	return c
}

func printMembers(w io.Writer, ms []admin.ClusterMember) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tID\tROLE\tHEALTH\tPEER URLS\tCLIENT URLS")
	for _, m := range ms {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case m.Learner:
			role = "learner"
		}
		health := "unreachable"
		if m.Healthy {
			health = "healthy"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.ID, role, health, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
	}
	tw.Flush()
}

// printCluster writes the cluster part of tandem status: the control
// plane's state and every node with its instances.
func printCluster(w io.Writer, cl *admin.ClusterStatus, now time.Time) {
	if cl == nil {
		return
	}
	var plane string
	switch {
	case cl.Quorum && cl.Leader != "":
		plane = "control plane: quorum, etcd leader " + cl.Leader
	case cl.Quorum:
		plane = "control plane: quorum"
	default:
		plane = "control plane: UNAVAILABLE"
		if !cl.QuorumSince.IsZero() {
			plane += " for " + shortDuration(now.Sub(cl.QuorumSince))
		}
		plane += " — serving from the last known view; no deploys or cron runs until quorum returns"
		if cl.Error != "" {
			plane += " (" + cl.Error + ")"
		}
	}
	if !cl.Synced && !cl.SyncedAt.IsZero() {
		plane += "; view of the other nodes last updated " + ago(now, cl.SyncedAt)
	}
	fmt.Fprintf(w, "\ncluster %s: %d %s; %s\n", cl.Name, len(cl.Nodes), plural(len(cl.Nodes), "node", "nodes"), plane)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tZONE\tSITE\tADDR\tVERSION\tAPPS")
	for _, n := range cl.Nodes {
		var apps []string
		for _, a := range n.Apps {
			apps = append(apps, fmt.Sprintf("%s %d/%d", a.Name, a.Healthy, len(a.Instances)))
		}
		name := n.Name
		if n.Self {
			name += " (this node)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, n.Zone, n.Site, n.Addr, n.Version, strings.Join(apps, ", "))
	}
	tw.Flush()
}
