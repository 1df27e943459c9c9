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
	"github.com/tandem-run/tandem/internal/config"
)

func newTokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke admin API tokens",
		Long: `Every call to the admin API needs a token. A token has scopes:

  read     status, history, jobs, metrics
  purge    cache purges (and read)
  deploy   deploy, rollback, apply, pause, maintenance, run-job (and read)
  admin    everything, including tokens, the audit log and cluster membership

Tokens belong to the cluster: a token made on any node works on every
node, and a revocation holds everywhere (on other nodes within a few
seconds). Each node makes its own root token (scope admin, named
root@<node>) on its first start, in <cluster.data_dir>/admin/root.token.
While the cluster has no quorum, tokens in use keep working but none can
be created or revoked. Make one token per person or machine, with no more
scope than it needs, and revoke it when it is no longer used.`,
	}
	c.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return c
}

func newTokenCreateCmd() *cobra.Command {
	var af adminFlags
	var scopes []string
	var ttl string
	var asJSON bool
	c := &cobra.Command{
		Use:     "create NAME --scope SCOPE[,SCOPE] [--ttl 30d]",
		Short:   "Create a token; it is printed once and stored only hashed",
		Example: "  tandem token create ci --scope deploy --ttl 90d\n  tandem token create grafana --scope read",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req := admin.TokenRequest{Name: args[0]}
			var err error
			if req.Scopes, err = admin.ParseScopes(strings.Join(scopes, ",")); err != nil {
				return usageError(c, fmt.Errorf("--scope: %w", err))
			}
			if ttl != "" {
				d, err := config.ParseDuration(ttl)
				if err != nil || d < 0 {
					return usageError(c, fmt.Errorf("--ttl: want a duration such as 12h or 30d, got %q", ttl))
				}
				req.TTL = time.Duration(d)
			}
			createToken := func(cl *admin.Client, ctx context.Context) (admin.IssuedToken, error) {
				return cl.CreateToken(ctx, req)
			}
			return show(c, &af, asJSON, createToken, func(c *cobra.Command, tok admin.IssuedToken) {
				fmt.Fprintln(c.OutOrStdout(), tok.Value)
				fmt.Fprintf(c.ErrOrStderr(), "token %s (id %s, scope %s, %s): shown only now; the node keeps a hash\n",
					tok.Name, tok.ID, strings.Join(scopeStrings(tok.Scopes), ","), expiry(tok.Expires))
			})
		},
	}
	af.register(c)
	c.Flags().StringSliceVar(&scopes, "scope", nil, "what the token may do: read, purge, deploy, admin (comma-separated or repeated)")
	c.Flags().StringVar(&ttl, "ttl", "", "how long the token is valid, e.g. 12h or 30d (default: until revoked)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newTokenListCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the cluster's tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			tokens := func(cl *admin.Client, ctx context.Context) (admin.TokenList, error) {
				ts, err := cl.Tokens(ctx)
				return admin.TokenList{Tokens: ts}, err
			}
			return show(c, &af, asJSON, tokens, func(c *cobra.Command, ts admin.TokenList) {
				printTokens(c.OutOrStdout(), ts.Tokens, time.Now())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func newTokenRevokeCmd() *cobra.Command {
	var af adminFlags
	c := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeToken(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "revoked token %s\n", args[0])
			return nil
		},
	}
	af.register(c)
	return c
}

func printTokens(w io.Writer, ts []admin.Token, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tCREATED-BY\tEXPIRES\tLAST-USED")
	for _, t := range ts {
		last := "never"
		if !t.LastUsed.IsZero() {
			last = shortDuration(now.Sub(t.LastUsed)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(scopeStrings(t.Scopes), ","),
			t.Created.Local().Format(time.DateTime), t.CreatedBy, expiry(t.Expires), last)
	}
	tw.Flush()
}

func scopeStrings(ss []admin.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never expires"
	}
	return "expires " + t.Local().Format(time.DateTime)
}
