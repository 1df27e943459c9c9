package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// printStorage shows the apps' object storage: the store, its buckets
// and, on the node replicating, how far behind the replica is.
func printStorage(w io.Writer, s *admin.StorageStatus, now time.Time) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "\nstorage %s", s.Store)
	if e := s.Embedded; e != nil {
		fmt.Fprintf(w, " (embedded, pid %d, %s, %d restarts)", e.PID, e.State, e.Restarts)
	}
	if s.Replica != "" {
		fmt.Fprintf(w, "  replica %s", s.Replica)
	}
	fmt.Fprintln(w)
	r := s.Replication
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if r == nil {
		fmt.Fprintln(tw, "APP\tBUCKET\tREPLICA\tPUBLIC URL")
		for _, b := range s.Buckets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.App, b.Bucket, dash(b.Replica), dash(b.PublicURL))
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "APP\tBUCKET\tREPLICA\tOBJECTS\tPENDING\tBEHIND\tLAG P50\tLAG P99\tCOPIED\tDELETED\tFAILED\tERROR")
	for _, b := range r.Buckets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", b.App, b.Bucket, b.Replica, b.Objects, b.Pending,
			b.Lag.Round(time.Millisecond), b.LagP50.Round(time.Millisecond), b.LagP99.Round(time.Millisecond), b.Copied, b.Deleted, b.Failed, dash(b.LastError))
	}
	tw.Flush()
	for _, side := range []struct {
		name string
		down time.Time
	}{{"store", r.StoreDown}, {"replica", r.ReplicaDown}} {
		if !side.down.IsZero() {
			fmt.Fprintf(w, "the %s is not answering, for %s\n", side.name, shortDuration(now.Sub(side.down)))
		}
	}
	if r.Resyncing != "" {
		fmt.Fprintf(w, "re-sync running (%s)\n", r.Resyncing)
	}
	if rep := r.LastResync; rep != nil {
		fmt.Fprintf(w, "last re-sync %s ago (%s): %d checked, %d differences, %d repaired, %d unresolved",
			shortDuration(now.Sub(rep.Finished)), rep.Reason, rep.Checked, rep.Differences(), rep.Repaired, rep.Unresolved)
		if rep.Err != "" {
			fmt.Fprintf(w, ", incomplete: %s", rep.Err)
		}
		fmt.Fprintln(w)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
