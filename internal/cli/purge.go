package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
)

func newPurgeCmd() *cobra.Command {
	var af adminFlags
	var req admin.PurgeRequest
	var ban string
	var asJSON bool
	c := &cobra.Command{
		Use:   "purge [URL] [--tag TAG]... [--ban REGEX]",
		Short: "Invalidate cached responses by URL, tag or regular expression",
		Long: `Invalidate cached responses on the node:

  tandem purge https://wiki.example.com/wiki/Main_Page   every variant of that URL
  tandem purge --tag page-Main_Page --tag pages           everything tagged so
  tandem purge --ban '^/wiki/'                             every path matching the regex
  tandem purge --ban '^/' --ban-host '^wiki\.example\.com$'

--soft marks the responses stale instead of removing them: the next request
gets the stale copy at once while one request fetches a fresh one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				req.URL = args[0]
			}
			req.BanPath = ban
			given := 0
			for _, set := range []bool{req.URL != "", len(req.Tags) > 0, req.BanPath != "" || req.BanHost != ""} {
				if set {
					given++
				}
			}
			if given != 1 {
				return &exitError{code: ExitUsage, err: fmt.Errorf("give exactly one of a URL, --tag or --ban (see tandem purge --help)")}
			}
			purge := func(cl *admin.Client, ctx context.Context) (admin.PurgeResult, error) { return cl.Purge(ctx, req) }
			return show(c, &af, asJSON, purge, func(c *cobra.Command, res admin.PurgeResult) {
				if req.BanPath != "" || req.BanHost != "" {
					// A ban is lazy: it is checked as stored responses are
					// looked up, so nothing is counted when it is recorded.
					fmt.Fprintln(c.OutOrStdout(), "ban recorded: every stored response it matches is dropped when it is next looked up (bans are lazy, so none is counted now)")
					return
				}
				fmt.Fprintf(c.OutOrStdout(), "purged %d stored %s\n", res.Purged, plural(res.Purged, "response", "responses"))
			})
		},
	}
	af.register(c)
	c.Flags().StringArrayVar(&req.Tags, "tag", nil, "purge responses carrying this tag (Surrogate-Key, xkey, Cache-Tag, ...)")
	c.Flags().StringVar(&ban, "ban", "", "purge responses whose path and query match this regular expression")
	c.Flags().StringVar(&req.BanHost, "ban-host", "", "with --ban: only on hosts matching this regular expression")
	c.Flags().BoolVar(&req.Soft, "soft", false, "mark stale instead of removing")
	c.Flags().BoolVar(&req.Wait, "wait", false, "return only once every live node has applied the purge")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
