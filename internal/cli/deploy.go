package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// errDeployFailed marks a deploy that ran and did not succeed; the CLI
// has shown why already.
var errDeployFailed = errors.New("deploy did not succeed")

func newDeployCmd() *cobra.Command {
	var af adminFlags
	var f struct {
		command, release, dir, version string
		env, unset                     []string
		watch, asJSON                  bool
	}
	c := &cobra.Command{
		Use:   "deploy APP [-- COMMAND ARGS...]",
		Short: "Roll a new release of an app out, without dropping a request",
		Long: `Make a new release of APP and roll it out: the release phase (the app's
release command, e.g. migrations) runs once, then instances are replaced
start-first: a new instance starts, must pass its health check within
health.startup, joins the balancer, and only then is an old one drained
and stopped; deploy.surge at a time. A new instance that fails its health
gate rolls the deploy back automatically. Progress is shown live; the
exit code is 0 only if the deploy succeeded.

In a cluster, the node asked rolls first (its release phase runs once,
there), then the other nodes roll zone by zone: a zone starts only once
every node of the one before has succeeded. A node that fails stops the
deploy and the nodes done already roll back. Lines from a node start
with its name: [node-b].

The new release is the current one with the flags' changes, or the app's
section of the stack file given with -f (plus the flags' changes). A
command given after -- keeps its arguments as they are; --command and
--release split at spaces. Without any change, the current release is
rolled out again as a new version (a rolling restart).`,
		Example: `  tandem deploy web --env FEATURE_X=on
  tandem deploy web --dir /srv/builds/42 --version 2026.05.01-42
  tandem deploy web -f stack.yaml
  tandem deploy web -- bin/wiki serve --port-from-env
  tandem deploy web --watch          # follow a deploy in progress`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			app := args[0]
			cmdArgs := args[1:]
			if dash := c.ArgsLenAtDash(); dash < 0 && len(cmdArgs) > 0 {
				return usageError(c, fmt.Errorf("unexpected arguments %q: put the command after --", cmdArgs))
			}
			cl, err := af.client()
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			show := progressPrinter(out, f.asJSON)
			if f.watch {
				last, err := cl.WatchDeploy(c.Context(), app, show)
				return deployOutcome(app, last, err)
			}
			req := admin.DeployRequest{Who: whoAmI(), Version: f.version}
			if af.stack != "" {
				spec, err := appSpec(af.stack, app)
				if err != nil {
					return err
				}
				req.Spec = &spec
			}
			if err := fillChanges(&req, f.command, cmdArgs, f.release, f.dir, f.env, f.unset); err != nil {
				return usageError(c, err)
			}
			last, err := cl.Deploy(c.Context(), app, req, show)
			return deployOutcome(app, last, err)
		},
	}
	af.register(c)
	fl := c.Flags()
	fl.StringVar(&f.command, "command", "", "the instances' command, split at spaces (or give it after --)")
	fl.StringVar(&f.release, "release", "", "the release-phase command, split at spaces")
	fl.StringVar(&f.dir, "dir", "", "the instances' working directory, e.g. an unpacked build")
	fl.StringArrayVar(&f.env, "env", nil, "set an environment variable, KEY=VALUE (repeatable)")
	fl.StringArrayVar(&f.unset, "unset-env", nil, "remove an environment variable (repeatable)")
	fl.StringVar(&f.version, "version", "", "label of the new release (default: the next vN)")
	fl.BoolVar(&f.watch, "watch", false, "follow the deploy of APP in progress instead of starting one")
	fl.BoolVar(&f.asJSON, "json", false, "print the progress as JSON lines")
	return c
}

// fillChanges puts the flags' changes into req.
func fillChanges(req *admin.DeployRequest, command string, cmdArgs []string, release, dir string, env, unset []string) error {
	switch {
	case command != "" && len(cmdArgs) > 0:
		return errors.New("give the command with --command or after --, not both")
	case command != "":
		req.Command = strings.Fields(command)
	case len(cmdArgs) > 0:
		req.Command = cmdArgs
	}
	if release != "" {
		req.ReleaseCommand = strings.Fields(release)
	}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
		req.Dir = abs
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		if req.SetEnv == nil {
			req.SetEnv = make(map[string]string)
		}
		req.SetEnv[k] = v
	}
	req.UnsetEnv = unset
	return nil
}

// appSpec reads the release part of app's section of a stack file.
func appSpec(file, app string) (admin.ReleaseSpec, error) {
	st, err := config.Load(file)
	if err != nil {
		return admin.ReleaseSpec{}, err
	}
	a, ok := st.Apps[app]
	if !ok {
		return admin.ReleaseSpec{}, &exitError{code: ExitUsage, err: fmt.Errorf("%s has no app %q (apps: %s)", file, app, strings.Join(st.AppNames, ", "))}
	}
	return specOf(a), nil
}

func specOf(a *config.App) admin.ReleaseSpec {
	return admin.ReleaseSpec{Command: a.Command, Dir: a.Dir, Env: a.Env, ReleaseCommand: a.Release}
}

// deployOutcome turns the end of a deploy into the command's result.
func deployOutcome(app string, last admin.DeployEvent, err error) error {
	switch {
	case err != nil:
		return err
	case last.Result != "succeeded":
		return fmt.Errorf("%w: %s %s (see above)", errDeployFailed, app, last.Result)
	}
	return nil
}

// progressPrinter shows a deploy's events as they come: one line per
// step, with the time since the start, the node it happened on (in a
// deploy across a cluster) and the instances ready there.
func progressPrinter(w io.Writer, asJSON bool) func(admin.DeployEvent) {
	if asJSON {
		enc := json.NewEncoder(w)
		return func(ev admin.DeployEvent) { enc.Encode(ev) }
	}
	var start time.Time
	cluster := false // a deploy across a cluster: its own last line has no bar
	return func(ev admin.DeployEvent) {
		if start.IsZero() {
			start = ev.Time
		}
		at := fmt.Sprintf("%6.1fs", ev.Time.Sub(start).Seconds())
		if ev.Node != "" {
			cluster = true
			at += "  [" + ev.Node + "]"
		}
		switch ev.Step {
		case "begin", "zone":
			fmt.Fprintf(w, "%s  %s\n", at, ev.Message)
		case "output":
			fmt.Fprintf(w, "%s  | %s\n", at, ev.Message)
		case "release":
			fmt.Fprintf(w, "%s  %s\n", at, ev.Message)
		case "rollback":
			fmt.Fprintf(w, "%s  ROLLBACK %s\n", at, ev.Message)
		case "done":
			if cluster && ev.Node == "" {
				fmt.Fprintf(w, "%s  %s\n", at, ev.Message)
				return
			}
			fmt.Fprintf(w, "%s  %s %s\n", at, bar(ev.Ready, ev.Want), ev.Message)
		default:
			fmt.Fprintf(w, "%s  %s %s\n", at, bar(ev.Ready, ev.Want), ev.Message)
		}
	}
}

// bar draws how many instances of the new release are ready: [##-] 2/3.
func bar(ready, want int) string {
	if want <= 0 {
		return "[]"
	}
	ready = min(ready, want)
	return fmt.Sprintf("[%s%s] %d/%d", strings.Repeat("#", ready), strings.Repeat("-", want-ready), ready, want)
}

// whoAmI names the person deploying, for the record. Without tokens it
// is what the local account says.
func whoAmI() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		return name + "@" + h
	}
	return name
}

func newRollbackCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "rollback APP [VERSION]",
		Short: "Roll an app back to a kept release (default: the one before the current)",
		Long: `Roll APP back to VERSION, or to the release the current one replaced. The
rollback rolls like a deploy (start-first, health-gated) but skips the
release phase. tandem history APP lists the kept releases.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			req := admin.RollbackRequest{Who: whoAmI()}
			if len(args) == 2 {
				req.Version = args[1]
			}
			last, err := cl.Rollback(c.Context(), args[0], req, progressPrinter(c.OutOrStdout(), asJSON))
			return deployOutcome(args[0], last, err)
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the progress as JSON lines")
	return c
}

func newHistoryCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "history APP",
		Short: "Show an app's kept releases and its deploys",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			history := func(cl *admin.Client, ctx context.Context) (admin.History, error) { return cl.History(ctx, args[0]) }
			return show(c, &af, asJSON, history, func(c *cobra.Command, h admin.History) {
				printHistory(c.OutOrStdout(), h, time.Now())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return c
}

func printHistory(w io.Writer, h admin.History, now time.Time) {
	fmt.Fprintf(w, "app %s: release %s\n", h.App, h.Current)
	printClusterRelease(w, h.Current, h.Cluster, nil)
	fmt.Fprintln(w, "\nRELEASES")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tSOURCE\tCOMMAND\tDIR\tENV")
	for _, r := range h.Releases {
		mark := ""
		if r.Current {
			mark = " *"
		}
		fmt.Fprintf(tw, "%s%s\t%s ago\t%s\t%s\t%s\t%s\n", r.Version, mark, shortDuration(now.Sub(r.Created)), r.Source,
			strings.Join(r.Command, " "), r.Dir, strings.Join(r.EnvKeys, ","))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nDEPLOYS")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tFROM\tTO\tSTARTED\tDURATION\tRESULT\tWHO\tREASON")
	for _, d := range h.Deploys {
		result := d.Result
		if result == "" {
			result = fmt.Sprintf("running (%s %d/%d)", d.Phase, d.Ready, d.Want)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s ago\t%s\t%s\t%s\t%s\n", d.ID, d.Kind, orDash(d.From), d.To,
			shortDuration(now.Sub(d.Started)), d.Duration.Round(100*time.Millisecond), result, d.Who, d.Reason)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newApplyCmd() *cobra.Command {
	var af adminFlags
	var dryRun, asJSON bool
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Deploy every app whose release a stack file changes, after showing the plan",
		Long: `Compare each app's command, dir, env and release command in FILE with the
release the node runs, print the plan, then deploy the apps that changed,
one after the other, stopping at the first deploy that does not succeed.
Jobs added, removed or changed are listed: they, and other settings
(instances, health, limits...), take effect when tandem restarts with the
file.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if af.stack == "" {
				return usageError(c, errors.New("apply needs the stack file: -f FILE"))
			}
			st, err := config.Load(af.stack)
			if err != nil {
				return err
			}
			cl, err := af.client()
			if err != nil {
				return err
			}
			req := admin.PlanRequest{Apps: map[string]admin.ReleaseSpec{}, Jobs: admin.JobSpecsOf(st)}
			for _, name := range st.AppNames {
				req.Apps[name] = specOf(st.Apps[name])
			}
			plan, err := cl.Plan(c.Context(), req)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			printPlan(out, plan)
			if dryRun {
				return nil
			}
			for _, p := range plan.Apps {
				if p.Note != "" || len(p.Changes) == 0 {
					continue
				}
				fmt.Fprintf(out, "\n")
				spec := req.Apps[p.App]
				last, err := cl.Deploy(c.Context(), p.App, admin.DeployRequest{Who: whoAmI(), Spec: &spec}, progressPrinter(out, asJSON))
				if err := deployOutcome(p.App, last, err); err != nil {
					return err
				}
			}
			return nil
		},
	}
	af.register(c)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the plan only")
	c.Flags().BoolVar(&asJSON, "json", false, "print deploy progress as JSON lines")
	return c
}

func printPlan(w io.Writer, p admin.Plan) {
	changed := 0
	for _, a := range p.Apps {
		switch {
		case a.Note != "":
			fmt.Fprintf(w, "  %s: %s\n", a.App, a.Note)
		case len(a.Changes) == 0:
			fmt.Fprintf(w, "  %s: %s, no change\n", a.App, a.Current)
		default:
			changed++
			fmt.Fprintf(w, "~ %s: %s -> new release\n", a.App, a.Current)
			for _, ch := range a.Changes {
				fmt.Fprintf(w, "      %s\n", ch)
			}
		}
	}
	for _, r := range p.Restart {
		fmt.Fprintf(w, "! %s: takes a restart of tandem with the file on each node\n", r)
	}
	fmt.Fprintf(w, "plan: %d %s to deploy\n", changed, plural(changed, "app", "apps"))
}

func usageError(c *cobra.Command, err error) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
}
