// Package cli owns tandem's command line: the subcommands, their flags,
// human and --json output, and the exit codes scripts rely on. It talks to a
// running node only through the admin API client.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
)

// Exit codes. They are part of tandem's interface: scripts branch on them.
const (
	ExitOK          = 0 // done
	ExitFailure     = 1 // the operation failed
	ExitUsage       = 2 // bad flags or arguments, or an invalid stack file
	ExitUnreachable = 3 // no node answered at the admin address
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Options are what the program running the command line tells it of
// itself.
type Options struct {
	// Keeper is the path of the binary the supervisor of `tandem up`
	// runs as its keeper (this one); "" runs none, as a node inside a
	// test process does.
	Keeper string
	// Program is the command that runs this binary, for PostgreSQL's
	// archive_command and restore_command; nil: Keeper, else the running
	// executable (see node.Options.Program).
	Program []string
}

// Main runs the command line with no keeper and returns the process exit
// code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(ctx, Options{}, args, stdin, stdout, stderr)
}

// Run runs the command line and returns the process exit code.
func Run(ctx context.Context, opts Options, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr, opts, args)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ran := false
	root.PersistentPreRun = func(*cobra.Command, []string) { ran = true }
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !ran {
		// cobra refused the command line before any command ran: an
		// unknown command or a wrong number of arguments.
		err = &exitError{code: ExitUsage, err: fmt.Errorf("%w (see tandem --help)", err)}
	}
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		fmt.Fprintf(stderr, "tandem: the stack file has %d %s:\n%v\n", len(cerr.List), plural(len(cerr.List), "problem", "problems"), cerr)
	} else if errors.Is(err, admin.ErrUnauthorized) {
		fmt.Fprintf(stderr, "tandem: %v\n%s\n", err, tokenHelp)
	} else {
		fmt.Fprintf(stderr, "tandem: %v\n", err)
	}
	return exitCode(err)
}

// exitCode maps an error to the process exit code; the only place that does.
func exitCode(err error) int {
	var ee *exitError
	var cerr *config.Errors
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &cerr):
		return ExitUsage
	case errors.Is(err, admin.ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, admin.ErrUnauthorized), errors.Is(err, admin.ErrForbidden):
		return ExitFailure
	case errors.Is(err, admin.ErrBadRequest), errors.Is(err, admin.ErrNotFound):
		return ExitUsage
	default:
		return ExitFailure
	}
}

// newRoot builds the command tree; args are the command-line arguments,
// which tandem up hands to the binary of an upgrade.
func newRoot(stdout, stderr io.Writer, opts Options, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Run a web monolith the way the cloud would, on machines you own",
		Long: `tandem runs a web app (Plone, MediaWiki, WordPress, Rails, Django, Go...) from
several supervised instances behind a health-checked load balancer and edge,
described by one stack file.

Exit codes: 0 done, 1 failed (also: no valid token, or a token without the
scope needed), 2 bad usage or invalid stack file, 3 no node answering at
the admin address.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(
		newUpCmd(opts, args),
		newUpgradeCmd(),
		newVersionCmd(),
		newValidateCmd(),
		newStatusCmd(),
		newDeployCmd(),
		newRollbackCmd(),
		newHistoryCmd(),
		newApplyCmd(),
		newPauseCmd(),
		newMaintenanceCmd(),
		newResumeCmd(),
		newJobsCmd(),
		newRunJobCmd(),
		newChecksCmd(),
		newPurgeCmd(),
		newTokenCmd(),
		newAuditCmd(),
		newClusterCmd(),
		newDBCmd(),
		newSitesCmd(),
		newUICmd(),
	)
	return root
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
