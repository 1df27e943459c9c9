package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUICmd() *cobra.Command {
	var af adminFlags
	c := &cobra.Command{
		Use:   "ui",
		Short: "Print the address of the node's status page",
		Long: `Print the address of the node's live status page, served by its admin
listener. When the command has a token (--token, $TANDEM_TOKEN, --token-file,
or -f STACK for the node's root token), a second line gives the address with
the token in its fragment (#token=...): the browser does not send the fragment
to the node, and the page moves the token into the tab's session storage and
out of the address bar. Without one, the page asks for a token. A token with
the read scope is enough and safest to paste into a browser:

  tandem token create viewer --scope read`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), cl.PageURL(""))
			if token := cl.Token(); token != "" {
				fmt.Fprintln(c.OutOrStdout(), cl.PageURL(token))
			}
			return nil
		},
	}
	af.register(c)
	return c
}
