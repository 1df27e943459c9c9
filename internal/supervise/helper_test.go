package supervise

import (
	"context"
	"fmt"
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

func runHelper(mode string) int {
	switch mode {
	case "sleep": // exits on SIGTERM (default action)
		fmt.Println("ready")
		block()
	case "exit":
		code, _ := strconv.Atoi(os.Getenv("HELPER_CODE"))
		fmt.Fprintln(os.Stderr, "exiting with", code)
		return code
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		block()
	case "print":
		for i := 1; i <= 60; i++ {
			fmt.Printf("out %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "err 1")
		long, _ := strconv.Atoi(os.Getenv("HELPER_LONG"))
		fmt.Println(strings.Repeat("x", long))
		fmt.Println("done")
		block()
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
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// block waits until the helper is killed. A bare select {} does not:
// without the race detector's goroutines, Go sees every goroutine asleep
// and exits with a deadlock (exit status 2).
func block() {
	for {
		time.Sleep(time.Hour)
	}
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
	block()
	return 0 // not reached
}

// helperStandin stands in for tandem: it supervises a "grandchildren"
// helper until it is killed.
func helperStandin() int {
	sup, err := New(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = sup.Run(context.Background()) }()
	spec := helperSpec("standin-1", "grandchildren", "HELPER_PIDFILE="+os.Getenv("HELPER_PIDFILE"))
	if _, err := sup.Start(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	block()
	return 0 // not reached
}
