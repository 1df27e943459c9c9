package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// defaultAdmin is where a node's admin API listens unless told otherwise.
const defaultAdmin = "127.0.0.1:7070"

// adminFlags locate a running node: --admin, else $TANDEM_ADMIN, else the
// admin.listen of the stack file given with -f, else the default; and say
// how to authenticate to it (see credentials).
type adminFlags struct {
	addr                    string
	stack                   string
	token, tokenFile, tlsCA string
}

func (f *adminFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.addr, "admin", "", "admin API address of the node, https://host:port for HTTPS (default $TANDEM_ADMIN or "+defaultAdmin+")")
	c.Flags().StringVarP(&f.stack, "file", "f", "", "stack file whose admin.listen and root token to use")
	f.registerAuth(c)
}

func (f *adminFlags) client() (*admin.Client, error) {
	var st *config.Stack
	if f.stack != "" {
		var err error
		if st, err = config.Load(f.stack); err != nil {
			return nil, err
		}
	}
	addr := f.addr
	if addr == "" {
		addr = os.Getenv("TANDEM_ADMIN")
	}
	https := false
	if addr == "" && st != nil {
		addr, https = st.Admin.Listen, st.Admin.TLS != nil
	}
	if addr == "" {
		addr = defaultAdmin
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	if https {
		addr = "https://" + addr
	}
	opts, err := f.credentials(st)
	if err != nil {
		return nil, err
	}
	return admin.NewClientWith(addr, opts), nil
}

func newStatusCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show a node's apps and instances, and the cluster it belongs to",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).Status, func(c *cobra.Command, st admin.Status) {
				printStatus(c.OutOrStdout(), st, time.Now())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func printStatus(w io.Writer, st admin.Status, now time.Time) {
	fmt.Fprintf(w, "node %s  zone %s  site %s  version %s  up %s\n", st.Node, st.Zone, st.Site, st.Version, shortDuration(now.Sub(st.StartedAt)))
	if len(st.Edge) > 0 {
		fmt.Fprintf(w, "edge %s\n", strings.Join(st.Edge, ", "))
	}
	printDatabaseLine(w, st.Database)
	up := map[string]bool{}
	if st.Cluster != nil {
		for _, n := range st.Cluster.Nodes {
			up[n.Name] = true
		}
	}
	for _, app := range st.Apps {
		fmt.Fprintf(w, "\napp %s: %d/%d healthy\n", app.Name, app.Healthy, app.Desired)
		printAppRelease(w, app, up, now)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tRELEASE\tADDR\tPID\tSTATE\tHEALTH\tRESTARTS\tUPTIME\tIN-FLIGHT\tREQUESTS\tNOTE")
		for _, in := range app.Instances {
			uptime := "-"
			if !in.StartedAt.IsZero() && in.PID != 0 {
				uptime = shortDuration(now.Sub(in.StartedAt))
			}
			pid := "-"
			if in.PID != 0 {
				pid = strconv.Itoa(in.PID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n",
				in.Name, in.Release, in.Addr, pid, in.State, in.Health, in.Restarts, uptime, in.InFlight, in.Requests, instanceNote(in))
		}
		tw.Flush()
	}
	printJobSummaries(w, st.Jobs, now)
	printStorage(w, st.Storage, now)
	printBackupLine(w, st.Backup, now)
	printCluster(w, st.Cluster, now)
	if st.Sites != nil {
		fmt.Fprintln(w)
		printSites(w, *st.Sites, now)
	}
}

// instanceNote says what an operator should look at, if anything.
func instanceNote(in admin.InstanceStatus) string {
	var notes []string
	if in.CrashLoop {
		notes = append(notes, "crash loop")
	}
	if in.OOMKills > 0 {
		notes = append(notes, fmt.Sprintf("%d OOM kills", in.OOMKills))
	}
	if in.LastExit != "" && in.State != "running" {
		notes = append(notes, "last exit: "+in.LastExit)
	}
	if in.LastError != "" && in.Health != "healthy" {
		notes = append(notes, in.LastError)
	}
	if in.MemoryNote != "" {
		notes = append(notes, in.MemoryNote)
	}
	return strings.Join(notes, "; ")
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	case d < 48*time.Hour:
		return d.Truncate(time.Minute).String()
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// call is one admin API call: a method of *admin.Client, such as
// (*admin.Client).Status.
type call[T any] func(*admin.Client, context.Context) (T, error)

// show is the work of a command that asks the node one thing and prints
// the answer: as JSON with --json, else as text writes it.
func show[T any](c *cobra.Command, af *adminFlags, asJSON bool, ask call[T], text func(*cobra.Command, T)) error {
	cl, err := af.client()
	if err != nil {
		return err
	}
	v, err := ask(cl, c.Context())
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.OutOrStdout(), v)
	}
	text(c, v)
	return nil
}
