package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/config"
)

// walTimeout bounds one wal-push or wal-fetch: PostgreSQL waits for it,
// and retries a push that failed.
const walTimeout = 10 * time.Minute

// newWALPushCmd is PostgreSQL's archive_command: it hands a WAL file to
// the node's archiver over the WAL socket.
func newWALPushCmd() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use:    "wal-push PATH NAME --socket SOCKET",
		Short:  "Archive a WAL file through the node (PostgreSQL's archive_command)",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), walTimeout)
			defer cancel()
			return backup.PushWAL(ctx, socket, args[0], args[1])
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "the node's WAL socket")
	c.MarkFlagRequired("socket")
	return c
}

// newWALFetchCmd is PostgreSQL's restore_command. Its exit code tells
// PostgreSQL "not in the archive" (1: the end of the archive) from a
// failure (126: recovery aborts rather than stopping early).
func newWALFetchCmd() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use:    "wal-fetch NAME PATH --socket SOCKET",
		Short:  "Fetch an archived WAL file through the node (PostgreSQL's restore_command)",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), walTimeout)
			defer cancel()
			if err := backup.FetchWAL(ctx, socket, args[0], args[1]); err != nil {
				return &exitError{code: backup.FetchExitCode(err), err: err}
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "the node's WAL socket")
	c.MarkFlagRequired("socket")
	return c
}

func newDBBackupsCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "backups",
		Short: "List the base backups, the WAL archive, the last restore test and the archiver's state",
		Long: `List what the backup store holds (read by the node asked): the base backups,
the archived WAL (segments, timelines), the app's file sets and their sizes;
the last restore test, and this node's WAL archiver (what it last archived,
failures, WAL waiting, disk left) and its backup alarms.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return show(c, &af, asJSON, (*admin.Client).Backups, func(c *cobra.Command, l admin.BackupList) {
				printBackups(c.OutOrStdout(), l, time.Now())
			})
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return c
}

func newDBBackupCmd() *cobra.Command {
	var af adminFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "backup",
		Short: "Take a base backup (and the file sets) now, and wait for it",
		Long: `Take a base backup of the database now, on the node asked (from a streaming
standby when there is one), then the app's file sets and retention, as the
schedule does. It waits until the backup is in the store, and exits 1 if
any of it failed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			run, err := cl.Backup(c.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(c.OutOrStdout(), run); err != nil {
					return err
				}
			} else {
				printBackupRun(c.OutOrStdout(), run)
			}
			if !run.OK {
				return &exitError{code: ExitFailure, err: fmt.Errorf("backup failed: %s", strings.Join(run.Errors, "; "))}
			}
			return nil
		},
	}
	af.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newDBRestoreCmd() *cobra.Command {
	var af adminFlags
	var at, id, dir, files, into string
	var latest, asJSON bool
	c := &cobra.Command{
		Use:   "restore (--time T | --latest | --backup ID) [--files SET] (--to DIR | --into-bucket NAME)",
		Short: "Restore a copy of the database into a new directory",
		Long: `Restore a copy of the database into DIR, a new or empty directory of the node
asked: the base backup that fits, then the archived WAL up to the target,
checked with pg_verifybackup. --time T restores every transaction committed
at or before T (RFC 3339 with a zone: 2026-12-06T04:54:03Z) and none after;
--latest everything the archive holds; --backup ID that backup (with --time,
up to T from it). The copy is recovered, promoted on a new timeline and
stopped: DIR is then an ordinary data directory, owned by the postgres
user, whose archiving is off, so it never writes into the production
archive. Start it with, for example:

  pg_ctl -D DIR -o "-p 5499 -c listen_addresses=''" start

With --files SET, the app's file set SET (backup.files) is restored into
DIR instead: its newest snapshot (--latest) or the one --backup names. An
app's bucket (the storage section) is the set storage:APP: each object is
restored as the file its key names; or, with --into-bucket NAME instead of
--to, into the bucket NAME of the storage's store (created if missing),
metadata included: the objects it lacks are written, those it holds are
left as they are, so the app's own bucket gets back what was deleted.

To make a new cluster from a backup instead, see database.postgres.bootstrap
in the stack file.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := restoreRequest(at, id, dir, into, latest)
			if err == nil && into != "" && files == "" {
				err = errors.New("--into-bucket goes with --files storage:APP: it restores an app's bucket")
			}
			if err == nil && files != "" {
				req.Files = files
				if at != "" {
					err = errors.New("--time does not apply to --files: a file set restores a snapshot (--latest or --backup ID)")
				}
			}
			if err != nil {
				return usageError(c, err)
			}
			restore := func(cl *admin.Client, ctx context.Context) (admin.RestoreResult, error) { return cl.Restore(ctx, req) }
			return show(c, &af, asJSON, restore, func(c *cobra.Command, res admin.RestoreResult) {
				printRestore(c.OutOrStdout(), res)
			})
		},
	}
	af.register(c)
	c.Flags().StringVar(&at, "time", "", "recover to this moment (RFC 3339 with a zone)")
	c.Flags().BoolVar(&latest, "latest", false, "recover everything the archive holds")
	c.Flags().StringVar(&id, "backup", "", "restore this backup (see tandem db backups)")
	c.Flags().StringVar(&dir, "to", "", "the new data directory on the node: absolute, absent or empty")
	c.Flags().StringVar(&files, "files", "", "restore this file set (backup.files, or storage:APP for an app's bucket) instead of the database")
	c.Flags().StringVar(&into, "into-bucket", "", "with --files storage:APP: restore into this bucket of the storage's store instead of --to")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// fileCount says how many files a file set's snapshot holds, or objects
// for a bucket's.
func fileCount(kind string, n int) string {
	if kind == "bucket" {
		return fmt.Sprintf("%d %s", n, plural(n, "object", "objects"))
	}
	return fmt.Sprintf("%d %s", n, plural(n, "file", "files"))
}

// restoreRequest checks the restore flags: a target, a directory.
func restoreRequest(at, id, dir, into string, latest bool) (admin.RestoreRequest, error) {
	req := admin.RestoreRequest{Dir: dir, Backup: id, IntoBucket: into}
	switch {
	case dir == "" && into == "":
		return req, errors.New("--to DIR is required: the new data directory")
	case dir != "" && into != "":
		return req, errors.New("--to DIR or --into-bucket NAME, not both")
	case latest && (at != "" || id != ""):
		return req, errors.New("--latest goes alone: it restores the newest backup and all the WAL")
	case !latest && at == "" && id == "":
		return req, errors.New("say what to restore: --time T, --latest or --backup ID")
	}
	if at != "" {
		t, err := config.ParseTime(at)
		if err != nil {
			return req, fmt.Errorf("--time: %w", err)
		}
		req.Time = t
	}
	return req, nil
}

// printBackups shows what the store holds.
func printBackups(w io.Writer, l admin.BackupList, now time.Time) {
	fmt.Fprintf(w, "store %s (read by %s): %s stored\n\n", l.Store, l.Node, bytesText(l.StoredBytes))
	if len(l.Backups) == 0 {
		fmt.Fprintln(w, "no base backup yet")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BACKUP\tFINISHED\tTIMELINE\tFROM\tDATA\tSTORED\tTOOK")
		for _, b := range l.Backups {
			fmt.Fprintf(tw, "%s\t%s (%s)\t%d\t%s\t%s\t%s\t%s\n", b.ID, b.Finished.Local().Format(time.DateTime), ago(now, b.Finished),
				b.Timeline, b.Source, bytesText(b.DataBytes), bytesText(b.StoredBytes), b.Took.Round(100*time.Millisecond))
		}
		tw.Flush()
	}
	for _, e := range l.Unreadable {
		fmt.Fprintf(w, "unreadable: %s\n", e)
	}
	wal := l.WAL
	fmt.Fprintf(w, "\nWAL: %d files, %s", wal.Files, bytesText(wal.Bytes))
	if wal.First != "" {
		fmt.Fprintf(w, "; segments %s to %s on %s %s", wal.First, wal.Last, plural(len(wal.Timelines), "timeline", "timelines"), joinUints(wal.Timelines))
	}
	fmt.Fprintf(w, "; %d timeline history %s, %d partial\n", wal.Histories, plural(wal.Histories, "file", "files"), wal.Partials)
	for _, f := range l.Files {
		fmt.Fprintf(w, "file set %s: %d %s (%s stored), newest %s: %s, %s\n", f.Set, f.Snapshots, plural(f.Snapshots, "snapshot", "snapshots"), bytesText(f.StoredBytes),
			ago(now, f.Last), fileCount(f.Kind, f.Files), bytesText(f.Bytes))
	}
	fmt.Fprintln(w)
	printRestoreTest(w, l.LastTest, now)
	if r := l.LastRetention; r != nil {
		fmt.Fprintf(w, "last retention %s: %d kept, %d deleted (%s), %d WAL files deleted\n", ago(now, r.At), r.Kept, r.Deleted, bytesText(r.DeletedBytes), r.WALDeleted)
	}
	if len(l.Archivers) == 0 {
		printArchiver(w, l.Node, l.Archive, false, now)
	}
	for _, a := range l.Archivers {
		printArchiver(w, a.Node, &a, a.Node != l.Node, now)
	}
	printAlarms(w, l.Alarms, now)
}

func printRestoreTest(w io.Writer, t *admin.RestoreTestInfo, now time.Time) {
	switch {
	case t == nil:
		fmt.Fprintln(w, "restore test: none yet")
	case t.OK:
		fmt.Fprintf(w, "restore test: passed %s, backup %s restored in %s to %s (%s behind its start), sanity %s\n",
			ago(now, t.Started), t.BackupID, t.Took.Round(100*time.Millisecond), t.LastCommit.Local().Format(time.DateTime), t.Lag.Round(time.Second), t.Sanity)
	default:
		fmt.Fprintf(w, "restore test: FAILED %s: %s\n", ago(now, t.Started), t.Error)
	}
}

// printArchiver shows a member's archiver; published: as that member last
// published it (the time it checked), not read now.
func printArchiver(w io.Writer, node string, a *admin.ArchiveInfo, published bool, now time.Time) {
	if a == nil {
		return
	}
	fmt.Fprintf(w, "WAL archiver on %s: ", node)
	if a.LastArchived != "" {
		fmt.Fprintf(w, "last archived %s %s", a.LastArchived, ago(now, a.LastArchivedAt))
	} else {
		fmt.Fprint(w, "nothing archived since it started")
	}
	fmt.Fprintf(w, ", %d archived, %d failures", a.Archived, a.Failures)
	if a.WALWaiting >= 0 {
		fmt.Fprintf(w, ", %d WAL waiting (%s)", a.WALWaiting, bytesText(a.WALWaitingBytes))
	}
	if a.DiskFree >= 0 {
		fmt.Fprintf(w, ", %s free", bytesText(a.DiskFree))
	}
	switch {
	case a.CheckedAt.IsZero():
		fmt.Fprint(w, ", store not checked yet")
	case a.StoreReachable:
		fmt.Fprint(w, ", store reachable")
	default:
		fmt.Fprintf(w, ", STORE UNREACHABLE: %s", a.StoreError)
	}
	if published && !a.CheckedAt.IsZero() {
		fmt.Fprintf(w, " (as of %s)", ago(now, a.CheckedAt))
	}
	fmt.Fprintln(w)
	if !a.FailingSince.IsZero() {
		fmt.Fprintf(w, "  failing since %s: %s\n", ago(now, a.FailingSince), a.LastFailure)
	}
}

func printAlarms(w io.Writer, alarms []admin.BackupAlarm, now time.Time) {
	for _, a := range alarms {
		on := ""
		if a.Node != "" {
			on = " on " + a.Node
		}
		fmt.Fprintf(w, "ALARM %s%s (since %s): %s\n", a.Name, on, ago(now, a.Since), a.Message)
	}
}

func printBackupRun(w io.Writer, run admin.BackupRun) {
	if b := run.Backup; b != nil {
		fmt.Fprintf(w, "base backup %s taken on %s from %s: %s of data, %s stored, in %s\n", b.ID, run.Node, b.Source,
			bytesText(b.DataBytes), bytesText(b.StoredBytes), b.Took.Round(100*time.Millisecond))
	}
	for _, f := range run.Files {
		copied := ""
		if f.Kind == "bucket" {
			copied = fmt.Sprintf(" (%d new or changed, copied)", f.Copied)
		}
		fmt.Fprintf(w, "file set %s: %s%s, %s\n", f.Set, fileCount(f.Kind, f.Files), copied, bytesText(f.Bytes))
		for _, o := range f.LeftOut {
			fmt.Fprintf(w, "file set %s: left out: %s\n", f.Set, o)
		}
	}
	if r := run.Retained; r != nil {
		fmt.Fprintf(w, "retention: %d backups kept, %d deleted (%s), %d WAL files deleted\n", r.Kept, r.Deleted, bytesText(r.DeletedBytes), r.WALDeleted)
	}
	for _, e := range run.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

func printRestore(w io.Writer, r admin.RestoreResult) {
	if f := r.Files; f != nil {
		where := r.Dir
		if r.Bucket != "" {
			where = r.Bucket
		}
		fmt.Fprintf(w, "restored file set %s, snapshot %s of %s, into %s on %s: %s, %s\n", f.Set, f.ID,
			f.Time.Local().Format(time.DateTime), where, r.Node, fileCount(f.Kind, f.Files), bytesText(f.Bytes))
		what := "not in the snapshot (not a regular file or directory)"
		if f.Kind == "bucket" {
			what = "not restored"
		}
		for _, s := range f.Skipped {
			fmt.Fprintf(w, "%s: %s\n", what, s)
		}
		return
	}
	target := "the end of the archive"
	if !r.Target.IsZero() {
		target = r.Target.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "restored backup %s into %s on %s, recovered to %s in %s\n", r.Backup.ID, r.Dir, r.Node, target, r.Took.Round(100*time.Millisecond))
	last := "none replayed"
	if !r.LastCommit.IsZero() {
		last = r.LastCommit.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "last transaction restored: %s; WAL position %s; the copy runs on timeline %d and never archives\n", last, r.LSN, r.Timeline)
}

func joinUints(ns []uint32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// printBackupLine is the backups' line in tandem status.
func printBackupLine(w io.Writer, b *admin.BackupStatus, now time.Time) {
	if b == nil {
		return
	}
	fmt.Fprint(w, "\nbackup: ")
	if l := b.LastBackup; l != nil {
		fmt.Fprintf(w, "last base backup %s (%s, %s stored)", ago(now, l.Finished), l.ID, bytesText(l.StoredBytes))
	} else {
		fmt.Fprint(w, "no base backup yet")
	}
	if !b.NextBackup.IsZero() {
		fmt.Fprintf(w, ", next %s", b.NextBackup.Local().Format(time.DateTime))
	}
	switch t := b.LastTest; {
	case t == nil:
	case t.OK:
		fmt.Fprintf(w, "; restore test passed %s", ago(now, t.Started))
	default:
		fmt.Fprintf(w, "; restore test FAILED %s", ago(now, t.Started))
	}
	if a := b.Archive; a != nil && a.LastArchived != "" {
		fmt.Fprintf(w, "; WAL archived %s", ago(now, a.LastArchivedAt))
	}
	fmt.Fprintf(w, " (%s)\n", b.Store)
	printAlarms(w, b.Alarms, now)
}
