package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/config"
)

func newValidateCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a stack file and list every problem in it",
		Long: `Check a stack file without starting anything. Every problem is listed with
its line and field path; the exit code is 2 when there is any.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := config.Load(file)
			if err != nil {
				return err
			}
			total := 0
			for _, name := range st.AppNames {
				total += st.Apps[name].Instances
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: ok (%d apps, %d instances per node)\n", file, len(st.AppNames), total)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "tandem.yaml", "stack file")
	return c
}
