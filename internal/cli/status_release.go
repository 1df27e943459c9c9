package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// printAppRelease shows an app's release, its deploy in progress or its
// last deploy (and why it failed), and its gate when not open.
func printAppRelease(w io.Writer, app admin.AppStatus, now time.Time) {
	fmt.Fprintf(w, "release %s", orDash(app.Release))
	if d := app.Deploy; d != nil {
		if d.Result == "" {
			fmt.Fprintf(w, "; %s %s -> %s in progress: %s %s, %s so far", d.Kind, orDash(d.From), d.To, d.Phase, bar(d.Ready, d.Want),
				d.Duration.Round(100*time.Millisecond))
		} else {
			fmt.Fprintf(w, "; last %s %s -> %s %s %s ago (took %s, by %s)", d.Kind, orDash(d.From), d.To, d.Result,
				shortDuration(now.Sub(d.Finished)), d.Duration.Round(100*time.Millisecond), d.Who)
		}
		if d.Reason != "" {
			fmt.Fprintf(w, ": %s", d.Reason)
		}
	}
	fmt.Fprintln(w)
	if app.Gate.Mode != "" && app.Gate.Mode != "open" {
		fmt.Fprintf(w, "%s since %s\n", describeGate(app.Gate), app.Gate.Since.Format(time.RFC3339))
	}
}

// printJobSummaries shows each job's last run and its failed and missed
// counts.
func printJobSummaries(w io.Writer, jobs []admin.JobSummary, now time.Time) {
	if len(jobs) == 0 {
		return
	}
	fmt.Fprintln(w, "\njobs")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tNEXT\tLAST\tRESULT\tRUNS\tFAILED\tSKIPPED\tMISSED\tNOTE")
	for _, j := range jobs {
		next, last, result, note := "-", "-", "-", ""
		if !j.Next.IsZero() {
			next = "in " + shortDuration(j.Next.Sub(now))
		}
		if r := j.Last; r != nil {
			last, result, note = ago(now, firstNonZero(r.Started, r.Scheduled)), r.Result, r.Error
		}
		if j.Running {
			result = "running"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", j.Name, next, last, result, j.Runs, j.Failed, j.Skipped, j.Missed, note)
	}
	tw.Flush()
}
