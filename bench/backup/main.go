// Command backup measures tandem's backups beside pgBackRest's, on the
// same machine, in one run: base backup and restore throughput of a
// pgbench database of about 1 GiB (wall and CPU time, stored size), into
// a local repository and into an S3 bucket on versitygw, and the RPO of
// WAL archiving under a steady write load: the server's whole machine
// crashed at a random moment, the archive restored, the newest restored
// commit compared with the newest acknowledged one.
//
//	go run ./bench/backup                  # about 20 minutes on 2 cores
//	go run ./bench/backup -quick           # a check of the harness, a minute or two
//	go run ./bench/backup -rounds 5 -rpo-trials 5 -rpo steady@45s
//	go run ./bench/backup -render bench/results/backup.json   # the report again, from a run's figures
//
// It runs as root (PostgreSQL as the postgres user), from the repository
// root, and needs PostgreSQL 15 and pgBackRest from Debian: it installs
// nothing, and a missing package makes it print the apt-get line and exit
// 2. Each simulated machine (a server and what archives for it) is a
// cgroup of its own, which gives its CPU time and lets a crash freeze and
// kill all of it at once. Nothing leaves loopback; only processes the
// program started are signalled.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

func main() {
	if code, ok := playTandem(os.Args); ok {
		os.Exit(code)
	}
	o, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench backup:", err)
		os.Exit(2)
	}
	if o.render != "" {
		if err := render(o.render, o.out, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench backup:", err)
			os.Exit(1)
		}
		return
	}
	host.Main("backup", func(ctx context.Context) error {
		_, err := run(ctx, o, os.Stdout, os.Stderr)
		return err
	})
}

// playTandem runs the program as the piece of tandem its arguments name
// (see walclient.go), if they name one.
func playTandem(args []string) (code int, ok bool) {
	switch {
	case len(args) > 1 && args[1] == "db":
		return walClientMain(args[1:]), true
	case len(args) > 1 && args[1] == archiverMode:
		return archiverMain(), true
	}
	return 0, false
}

// render reads a run's backup.json, summarizes it again and writes the
// report into out and its markdown to stdout: a change to the report's
// form needs no new run.
func render(path, out string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.summarize()
	if err := rep.Write(out); err != nil {
		return err
	}
	_, err = fmt.Fprint(stdout, rep.Markdown())
	return err
}

// runner is one run: its options, where it works and what it found.
type runner struct {
	o     options
	env   env
	dir   string
	boxes *boxes
	logw  io.Writer
	rep   *Report
	kept  bool // a trial failed: keep the work directory
	socks int  // socket directories made
}

// newServer describes a server on data in box b; start runs it. Its
// socket directory is short (a Unix socket's path has at most 107 bytes).
func (r *runner) newServer(name, data string, b *box) *server {
	r.socks++
	return &server{env: r.env.pg, name: name, data: data, sock: filepath.Join(r.dir, fmt.Sprintf("s%d", r.socks)), box: b}
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.logw, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run is the whole benchmark; it writes the report to o.out and its
// markdown to stdout, progress to logw. Every process it started is
// stopped, and its cgroups removed, before it returns, whatever happened.
func run(ctx context.Context, o options, stdout, logw io.Writer) (_ *Report, err error) {
	bins, err := locate(o)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, logw: logw, rep: &Report{Date: time.Now().UTC(), Machine: host.Describe()}}
	if r.dir, err = os.MkdirTemp("", "tandem-bench-backup-"); err != nil {
		return nil, err
	}
	defer func() {
		if r.kept || o.keep {
			fmt.Fprintf(logw, "files kept in %s\n", r.dir)
		} else {
			os.RemoveAll(r.dir) //nolint:errcheck // a temporary directory
		}
	}()
	// PostgreSQL runs as the postgres user: it must reach its directories.
	if err := os.Chmod(r.dir, 0o755); err != nil {
		return nil, err
	}
	if r.boxes, err = newBoxes(filepath.Base(r.dir)); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.boxes.close()) }()
	if r.env, err = r.prepare(ctx, bins); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.env.gw.stop()) }()
	r.rep.Settings = Settings{Scale: o.scale, Rounds: o.rounds, Setups: o.setups, Archivers: o.archivers,
		RPOCases: o.rpo, RPOTrials: o.rpoTrials, ProcessMax: o.processMax, Loads: loads}
	r.rep.Machine.Versions = versions(ctx, bins)
	if len(o.setups) > 0 {
		if err := r.throughput(ctx); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
	}
	if len(o.archivers) > 0 && len(o.rpo) > 0 {
		if err := r.rpoPhase(ctx); err != nil {
			return nil, fmt.Errorf("RPO: %w", err)
		}
	}
	r.rep.Machine.LoadAvg[1] = host.LoadAvg()
	r.rep.summarize()
	if err := r.rep.Write(o.out); err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, r.rep.Markdown())
	return r.rep, nil
}

// prepare copies this program where the postgres user can run it (as
// archive_command's and restore_command's WAL client) and starts the
// gateway if a setup needs it.
func (r *runner) prepare(ctx context.Context, bins map[string]string) (env, error) {
	cred, err := host.PostgresUser()
	if err != nil {
		return env{}, err
	}
	e := env{pg: pgEnv{bin: bins["pgbin"], cred: cred}, pgbackrest: bins["pgbackrest"], processMax: r.o.processMax,
		exe: filepath.Join(r.dir, "tandem-bench")}
	self, err := os.Executable()
	if err != nil {
		return e, err
	}
	if err := copyFile(self, e.exe, 0o755); err != nil {
		return e, fmt.Errorf("copy the program for the postgres user: %w", err)
	}
	if r.o.needs("", storeS3) {
		wd, err := os.Getwd()
		if err != nil {
			return e, err
		}
		gwDir := filepath.Join(r.dir, "versitygw")
		if err := os.Mkdir(gwDir, 0o755); err != nil {
			return e, err
		}
		r.logf("starting versitygw")
		if e.gw, err = startGateway(ctx, gwDir, wd); err != nil {
			return e, err
		}
	}
	return e, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
