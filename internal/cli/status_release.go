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
func printAppRelease(w io.Writer, app admin.AppStatus, up map[string]bool, now time.Time) {
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
	printClusterRelease(w, app.Release, app.Cluster, up)
	if app.Gate.Mode != "" && app.Gate.Mode != "open" {
		fmt.Fprintf(w, "%s since %s\n", describeGate(app.Gate), app.Gate.Since.Format(time.RFC3339))
	}
}

// printClusterRelease shows the cluster's release of an app when it is
// not the one this node runs, and the nodes that run another: up ones
// are converging, down ones converge when they return. up says which
// nodes are in the cluster's view; nil when unknown.
func printClusterRelease(w io.Writer, here string, cr *admin.ClusterRelease, up map[string]bool) {
	if cr == nil || cr.Version == here && len(cr.Differ) == 0 {
		return
	}
	fmt.Fprintf(w, "cluster release %s (%s)", cr.Version, cr.By)
	if cr.Version != here {
		fmt.Fprintf(w, "; this node runs %s", orDash(here))
	}
	fmt.Fprintln(w)
	for _, d := range cr.Differ {
		state := "converges to " + cr.Version // whether it is up is not known here
		switch {
		case up == nil:
		case up[d.Node]:
			state = "up: converging to " + cr.Version
		default:
			state = "down: converges to " + cr.Version + " when it returns"
		}
		fmt.Fprintf(w, "  node %s runs %s (%s)\n", d.Node, orDash(d.Release), state)
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
