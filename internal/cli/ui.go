package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUICmd() *cobra.Command {
	var af adminFlags
	var token string
	c := &cobra.Command{
		Use:   "ui",
		Short: "Print the address of the node's status page",
		Long: `Print the address of the node's live status page, served by its admin
listener. With --token, a second line gives the address with the token in its
fragment (#token=...): the browser does not send the fragment to the node, and
the page moves the token into the tab's session storage and out of the
address bar. Without it, the page asks for a token when the node wants one.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), cl.PageURL(""))
			if token != "" {
				fmt.Fprintln(c.OutOrStdout(), cl.PageURL(token))
			}
			return nil
		},
	}
	af.register(c)
	c.Flags().StringVar(&token, "token", "", "admin token (read scope) to put in the page address")
	return c
}
