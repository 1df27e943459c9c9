package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cli"
	"github.com/tandem-run/tandem/internal/storage"
)

// The end-to-end tests drive tandem the way a user does: a stack file,
// `tandem up`, the edge's HTTP port, the CLI, signals. Most nodes run in
// this process (cli.Main in a goroutine, stopped by ending its context as
// SIGTERM does); a node that a test signals or kills is a process of its
// own. Either way its app instances are real child processes.
//
// Nothing is built for tandem or the test app: this test binary is both.
// TestMain links it as tandem, tandem-v2 and testapp in a temporary
// directory, and run under one of those names it is that program (the
// busybox way), so a node started as a process runs this package's main,
// the very code users run. tandem-v2 is the same main reporting another
// version: the binary a node is upgraded to.

var (
	tandemBin   string // this binary, run as tandem
	tandemV2Bin string // this binary, run as tandem reporting upgradeVersion
	testappBin  string // this binary, run as the test app
	wikiBin     string // the example monolith, built by wiki
)

// programEnv names, in a node process's environment, the program this
// binary is when run under a name not its own: a node runs its own binary
// again as the supervisor's keeper (by the path the link resolves to) and,
// when an upgrade falls back, by a descriptor (/proc/self/fd/N). It is
// inherited by everything the node starts; the names above come first.
const programEnv = "TANDEM_E2E_PROGRAM"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == storage.GatewayArg {
		// A node in this process runs this binary as its embedded store.
		os.Exit(storage.GatewayMain(os.Args[2:], os.Stderr))
	}
	switch program() {
	case "tandem":
		main() // exits
	case "tandem-v2":
		cli.Version = upgradeVersion
		main() // exits
	case "testapp":
		testapp() // exits
	}
	os.Exit(runTests(m))
}

// program returns the program this binary is to run as: the name it was
// run under, if one of the links', else what programEnv says ("" for the
// tests themselves).
func program() string {
	switch name := filepath.Base(os.Args[0]); name {
	case "tandem", "tandem-v2", "testapp":
		return name
	}
	return os.Getenv(programEnv)
}

// e2eParallel is how many tests of this package run at once unless
// -test.parallel says otherwise. They mostly wait (on health checks,
// drains, schedules), so more of them than there are CPUs fit.
const e2eParallel = 6

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := linkSelf(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wikiBin = filepath.Join(dir, "wiki")
	// The CLI reads these; a test says what it wants with flags.
	for _, v := range []string{"TANDEM_ADMIN", "TANDEM_TOKEN", "TANDEM_TOKEN_FILE", "TANDEM_JOIN"} {
		os.Unsetenv(v)
	}
	// A race-enabled program sleeps 1s on exit by default (to catch races
	// in the last moments); the nodes and instances started here would
	// make every stop and deploy wait for it.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))

	forkDone := make(chan struct{})
	go func() {
		defer close(forkDone)
		forkThread()
	}()
	defer func() {
		close(forks)
		<-forkDone
	}()

	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", fmt.Sprint(e2eParallel))
	}
	return m.Run()
}

// linkSelf makes dir/tandem, dir/tandem-v2 and dir/testapp links to this
// binary.
func linkSelf(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the test binary: %w", err)
	}
	tandemBin, tandemV2Bin, testappBin = filepath.Join(dir, "tandem"), filepath.Join(dir, "tandem-v2"), filepath.Join(dir, "testapp")
	for _, link := range []string{tandemBin, tandemV2Bin, testappBin} {
		if err := os.Symlink(exe, link); err != nil {
			return err
		}
	}
	return nil
}

// forks takes the starts of node processes to forkThread.
var forks = make(chan func())

// forkThread runs the functions sent on forks, on one OS thread that it
// holds until forks is closed, at the end of the tests. A node process
// gets a parent-death signal, so that it dies with this binary if the
// tests crash; Linux sends it when the thread that forked the process
// exits, not the process (golang/go#27505), and threads of this process
// do exit: each supervisor of a node in this process ends its own when it
// stops.
func forkThread() {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	for f := range forks {
		f()
	}
}

// startOnForkThread starts cmd from forkThread.
func startOnForkThread(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	forks <- func() { errc <- cmd.Start() }
	return <-errc
}

var wikiBuild struct {
	once sync.Once
	err  error
}

// wiki builds the example monolith, once, and returns its path. It is
// built without the race detector, whatever this binary has: with it, the
// wiki's SQLite is too slow for the load the deploy tests put on it.
func wiki(t *testing.T) string {
	t.Helper()
	wikiBuild.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", wikiBin, "../../examples/wiki").CombinedOutput()
		if err != nil {
			wikiBuild.err = fmt.Errorf("build the example wiki: %w\n%s", err, out)
		}
	})
	if wikiBuild.err != nil {
		t.Fatal(wikiBuild.err)
	}
	return wikiBin
}
