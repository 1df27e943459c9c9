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

func newJobsCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "jobs [NAME]",
		Short: "List scheduled jobs and their runs, or the runs of one job",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			jobs, err := cl.Jobs(c.Context())
			if err != nil {
				return err
			}
			if len(args) == 1 {
				for _, j := range jobs {
					if j.Name == args[0] {
						if asJSON {
							return printJSON(c.OutOrStdout(), j)
						}
						printJobRuns(c.OutOrStdout(), j, time.Now())
						return nil
					}
				}
				return &exitError{code: ExitUsage, err: fmt.Errorf("no job %q", args[0])}
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), jobs)
			}
			printJobs(c.OutOrStdout(), jobs, time.Now())
			return nil
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func printJobs(w io.Writer, jobs []admin.JobStatus, now time.Time) {
	if len(jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tNEXT\tLAST\tRESULT\tEXIT\tRUNS\tFAILED\tSKIPPED\tMISSED")
	for _, j := range jobs {
		last, result, exit := "-", "-", "-"
		if n := len(j.History); n > 0 {
			r := j.History[n-1]
			last, result = ago(now, firstNonZero(r.Started, r.Scheduled)), r.Result
			if r.Result != "skipped" && r.Result != "missed" && r.Result != "running" {
				exit = fmt.Sprint(r.ExitCode)
			}
		}
		next := "-"
		if !j.Next.IsZero() {
			next = "in " + shortDuration(j.Next.Sub(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", j.Name, j.Schedule, next, last, result, exit, j.Runs, j.Failed, j.Skipped, j.Missed)
	}
	tw.Flush()
}

func printJobRuns(w io.Writer, j admin.JobStatus, now time.Time) {
	fmt.Fprintf(w, "job %s: %s (%s), overlap %s, timeout %s; %d runs, %d failed, %d skipped, %d missed\n",
		j.Name, j.Schedule, j.Timezone, j.Overlap, j.Timeout, j.Runs, j.Failed, j.Skipped, j.Missed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tSTARTED\tDURATION\tRESULT\tEXIT\tNOTE")
	for _, r := range j.History {
		dur := "-"
		if !r.Finished.IsZero() && !r.Started.IsZero() {
			dur = r.Finished.Sub(r.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Trigger, ago(now, firstNonZero(r.Started, r.Scheduled)), dur, r.Result, r.ExitCode, r.Error)
	}
	tw.Flush()
	if n := len(j.History); n > 0 && len(j.History[n-1].Output) > 0 {
		fmt.Fprintf(w, "\noutput of run %d (last lines):\n", j.History[n-1].ID)
		for _, line := range j.History[n-1].Output {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

func newRunJobCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "run-job NAME",
		Short: "Run a scheduled job now and wait for it",
		Long:  `Run job NAME now, wait for it to end and show its output; the exit code is 0 only if the job succeeded.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			run, err := cl.RunJob(c.Context(), args[0])
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if asJSON {
				if err := printJSON(out, run); err != nil {
					return err
				}
			} else {
				for _, line := range run.Output {
					fmt.Fprintf(out, "| %s\n", line)
				}
				fmt.Fprintf(out, "job %s run %d: %s, exit code %d, %s\n", args[0], run.ID, run.Result, run.ExitCode,
					run.Finished.Sub(run.Started).Round(time.Millisecond))
			}
			if run.Result != "ok" {
				return fmt.Errorf("job %s: %s", args[0], strings.TrimSpace(run.Result+": "+run.Error))
			}
			return nil
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	return c
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return shortDuration(now.Sub(t)) + " ago"
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
