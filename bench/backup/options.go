package main

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// setup is one backup system with one repository and its settings.
type setup struct {
	Name   string `json:"name"`
	System string `json:"system"` // tandem or pgbackrest
	Store  string `json:"store"`  // local or s3
	Title  string `json:"title"`
	// pgBackRest's settings; tandem has none to choose.
	Compress string `json:"compress,omitempty"` // compress-type; "" its default (gz)
	Async    bool   `json:"archive_async,omitempty"`
}

const (
	systemTandem     = "tandem"
	systemPgBackRest = "pgbackrest"
	storeLocal       = "local"
	storeS3          = "s3"
)

// setups are the throughput setups, by -setups name.
var setups = []setup{
	{Name: "tandem-local", System: systemTandem, Store: storeLocal,
		Title: "tandem's backup package, a local directory store, zstd (klauspost/compress, SpeedDefault ≈ level 3)"},
	{Name: "pgbackrest-local", System: systemPgBackRest, Store: storeLocal, Compress: "zst",
		Title: "pgBackRest, posix repository, compress-type=zst compress-level=3"},
	{Name: "pgbackrest-local-gz", System: systemPgBackRest, Store: storeLocal,
		Title: "pgBackRest, posix repository, its default compression (gz, level 6)"},
	{Name: "tandem-s3", System: systemTandem, Store: storeS3,
		Title: "tandem's backup package, versitygw on loopback over TLS, zstd"},
	{Name: "pgbackrest-s3", System: systemPgBackRest, Store: storeS3, Compress: "zst",
		Title: "pgBackRest, S3 repository on the same versitygw over TLS, zst level 3"},
}

// archivers are the RPO setups, by -rpo-engines name: each archives into
// a local repository of its own.
var archivers = []setup{
	{Name: "tandem", System: systemTandem, Store: storeLocal,
		Title: "tandem: archive_command hands each segment to the archiver over its Unix socket"},
	{Name: "pgbackrest-async", System: systemPgBackRest, Store: storeLocal, Compress: "zst", Async: true,
		Title: "pgBackRest archive-push, archive-async=y (a daemon pushes ahead of PostgreSQL)"},
	{Name: "pgbackrest-sync", System: systemPgBackRest, Store: storeLocal, Compress: "zst",
		Title: "pgBackRest archive-push, archive-async=n (one segment per archive_command)"},
}

// rpoCase is one load with one archive_timeout.
type rpoCase struct {
	Load           string        `json:"load"` // steady or heavy
	ArchiveTimeout time.Duration `json:"archive_timeout_ns"`
}

func (c rpoCase) String() string { return c.Load + "@" + c.ArchiveTimeout.String() }

// loads: pgbench's TPC-B-like transactions from 2 clients, at a fixed
// rate or as fast as they go, beside the probe's commit every 10 ms.
var loads = map[string]string{
	"steady": "pgbench -c 2 -R 100 (100 TPC-B-like transactions/s) and a probe commit every 10 ms",
	"heavy":  "pgbench -c 2 unthrottled and a probe commit every 10 ms",
}

type options struct {
	scale      int // pgbench scale of the throughput database
	rounds     int
	setups     []setup
	rpoTrials  int
	archivers  []setup
	rpo        []rpoCase
	processMax int    // pgBackRest's process-max
	out        string // directory of backup.md and backup.json
	keep       bool   // keep the work directory
	quick      bool
	render     string // a backup.json to render again instead of running
}

func parseOptions(args []string) (options, error) {
	var o options
	var setupList, archiverList, rpoList string
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.IntVar(&o.scale, "scale", 65, "pgbench scale of the throughput database (65: about 1 GiB)")
	fs.IntVar(&o.rounds, "rounds", 3, "throughput rounds; each backs up and restores with every setup")
	fs.StringVar(&setupList, "setups", "tandem-local,pgbackrest-local,pgbackrest-local-gz,tandem-s3,pgbackrest-s3", "throughput setups, in the order of odd rounds")
	fs.IntVar(&o.rpoTrials, "rpo-trials", 3, "RPO trials per archiver and case")
	fs.StringVar(&archiverList, "rpo-engines", "tandem,pgbackrest-async,pgbackrest-sync", "archivers whose RPO is measured; empty: none")
	fs.StringVar(&rpoList, "rpo", "steady@45s,steady@10s,heavy@45s", "RPO cases, load@archive_timeout (loads: steady, heavy)")
	fs.IntVar(&o.processMax, "process-max", runtime.NumCPU(), "pgBackRest's process-max (tandem's zstd encoder uses every CPU)")
	fs.StringVar(&o.out, "out", "bench/results", "directory for backup.md and backup.json")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (data directories, repositories, logs)")
	fs.StringVar(&o.render, "render", "", "render the report of a run's `backup.json` again (into -out) instead of running")
	fs.BoolVar(&o.quick, "quick", false, "a quick check of the harness: scale 2, one round, one RPO trial of steady@3s; figures mean nothing")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick { // what the command line did not set itself
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"scale": "2", "rounds": "1", "rpo-trials": "1", "rpo": "steady@3s"} {
			if !set[name] {
				fs.Set(name, v) //nolint:errcheck // valid values of defined flags
			}
		}
	}
	if o.scale < 1 || o.rounds < 1 || o.rpoTrials < 1 || o.processMax < 1 {
		return o, fmt.Errorf("-scale, -rounds, -rpo-trials and -process-max must be at least 1")
	}
	var err error
	if o.setups, err = pick(setups, setupList, "-setups"); err != nil {
		return o, err
	}
	if o.archivers, err = pick(archivers, archiverList, "-rpo-engines"); err != nil {
		return o, err
	}
	if o.rpo, err = parseRPOCases(rpoList); err != nil {
		return o, err
	}
	return o, nil
}

// pick returns the setups a comma-separated list names, in its order.
func pick(from []setup, list, flagName string) ([]setup, error) {
	var out []setup
	for name := range strings.SplitSeq(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		i := slices.IndexFunc(from, func(s setup) bool { return s.Name == name })
		if i < 0 {
			var names []string
			for _, s := range from {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("%s: unknown setup %q (have %s)", flagName, name, strings.Join(names, ", "))
		}
		out = append(out, from[i])
	}
	return out, nil
}

// parseRPOCases parses "steady@45s,heavy@45s".
func parseRPOCases(list string) ([]rpoCase, error) {
	var out []rpoCase
	for item := range strings.SplitSeq(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		load, timeout, ok := strings.Cut(item, "@")
		if _, known := loads[load]; !ok || !known {
			return nil, fmt.Errorf("-rpo: %q: want load@archive_timeout with load steady or heavy", item)
		}
		d, err := time.ParseDuration(timeout)
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("-rpo: %q: archive_timeout must be whole seconds, at least 1s", item)
		}
		out = append(out, rpoCase{Load: load, ArchiveTimeout: d})
	}
	return out, nil
}

// needs says which systems and stores the run uses.
func (o options) needs(system, store string) bool {
	for _, s := range slices.Concat(o.setups, o.archivers) {
		if (system == "" || s.System == system) && (store == "" || s.Store == store) {
			return true
		}
	}
	return false
}
