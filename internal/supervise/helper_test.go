package supervise

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the processes it supervises: with
// helperEnv set, TestMain runs the helper mode named by it instead of the
// tests.
const helperEnv = "TANDEM_SUPERVISE_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == KeeperArg {
		os.Exit(KeeperMain()) // as cmd/tandem does
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// helperSpec returns a Spec that runs the test binary in mode, with env
// added to its environment.
func helperSpec(name, mode string, env ...string) Spec {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return Spec{
		Name:       name,
		App:        "app-" + strings.SplitN(name, "-", 2)[0],
		Command:    []string{exe, "-test.run=^$"},
		Env:        append([]string{helperEnv + "=" + mode}, env...),
		StopGrace:  5 * time.Second,
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	}
}

// startHelperProcess starts the test binary in helper mode with env added
// to its environment, its stderr the test's; it is killed and reaped when
// the test ends.
func startHelperProcess(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testExe(t), "-test.run=^$")
	cmd.Env = append([]string{helperEnv + "=" + mode}, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func runHelper(mode string) int {
	switch mode {
	case "sleep": // exits on SIGTERM (default action)
		fmt.Println("ready")
		sleepForever()
	case "exit":
		code, _ := strconv.Atoi(os.Getenv("HELPER_CODE"))
		fmt.Fprintln(os.Stderr, "exiting with", code)
		return code
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		sleepForever()
	case "print":
		for i := 1; i <= 60; i++ {
			fmt.Printf("out %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "err 1")
		long, _ := strconv.Atoi(os.Getenv("HELPER_LONG"))
		fmt.Println(strings.Repeat("x", long))
		fmt.Println("done")
		sleepForever()
	case "grandchildren":
		return helperGrandchildren()
	case "oom":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "unlink-exit": // removes its own command, then fails: later starts cannot exec
		if err := os.Remove(os.Getenv("HELPER_PATH")); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	case "standin":
		return helperStandin()
	case "serve":
		return helperServe()
	case "ticker": // prints a line every 20ms
		for i := 1; ; i++ {
			fmt.Println("tick", i)
			time.Sleep(20 * time.Millisecond)
		}
	case "upgrade-old":
		return helperUpgradeOld()
	case "upgrade-new":
		return helperUpgradeNew()
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// helperGrandchildren starts two sleeping children, one in its process
// group and one in a session of its own, writes "self child setsid-child"
// pids to HELPER_PIDFILE and sleeps.
func helperGrandchildren() int {
	exe, _ := os.Executable()
	pids := []string{strconv.Itoa(os.Getpid())}
	for _, setsid := range []bool{false, true} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = []string{helperEnv + "=sleep"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pids = append(pids, strconv.Itoa(cmd.Process.Pid))
	}
	path := os.Getenv("HELPER_PIDFILE")
	if err := os.WriteFile(path+".tmp", []byte(strings.Join(pids, " ")), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	sleepForever()
	return 0
}

// helperStandin stands in for tandem: it supervises a "grandchildren"
// helper until it is killed. With HELPER_KEEPER set it runs a keeper (the
// test binary) and writes its pid to HELPER_PIDFILE.keeper; with
// HELPER_NO_CGROUPS set it finds no cgroup hierarchy.
func helperStandin() int {
	opts := Options{}
	if os.Getenv("HELPER_KEEPER") != "" {
		opts.KeeperPath, _ = os.Executable()
	}
	if dir := os.Getenv("HELPER_NO_CGROUPS"); dir != "" {
		opts.cgroupFS = dir
	}
	sup, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := sup.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	pidfile := os.Getenv("HELPER_PIDFILE")
	spec := helperSpec("standin-1", "grandchildren", "HELPER_PIDFILE="+pidfile)
	if _, err := sup.Start(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if sup.keeper != nil {
		sup.keeper.mu.Lock()
		pid := sup.keeper.proc.Pid
		sup.keeper.mu.Unlock()
		if err := os.WriteFile(pidfile+".keeper", []byte(strconv.Itoa(pid)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	sleepForever()
	return 0
}

// sleepForever blocks until the process is killed. A bare select {} would
// not do: with no other goroutine the runtime reports a deadlock and exits.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// helperServe serves HTTP on a loopback port of its choosing, answering
// "pid <its pid>", and prints "listening <addr>". With HELPER_IGNORE_TERM
// set it ignores SIGTERM.
func helperServe() int {
	if os.Getenv("HELPER_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening", l.Addr())
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "pid %d", os.Getpid())
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}
