package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cli"
	"github.com/tandem-run/tandem/internal/config"
	tandemnode "github.com/tandem-run/tandem/internal/node"
)

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePortOn(t, "127.0.0.1")))
}

// syncBuffer is a bytes.Buffer safe for the process's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// node is a running `tandem up`: in this process (startNode, startStack)
// or a process of its own (startProcess).
type node struct {
	t     *testing.T
	edge  string // host:port
	admin string // host:port
	// tokenFile holds the node's root token once it has started; "" if
	// the stack file does not load.
	tokenFile string
	stdout    *syncBuffer
	stderr    *syncBuffer
	done      chan struct{} // closed when tandem has exited
	code      int           // its exit code, once done is closed
	// stop asks tandem to stop gracefully: it ends the context of a node
	// in this process, and sends SIGTERM to a process.
	stop func()
	proc *os.Process // nil for a node in this process

	apiOnce sync.Once
	api     *admin.Client // see client
}

// slow skips a long scenario under -short: the inner loop keeps one of
// each kind, the whole suite runs them all.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow scenario; runs without -short")
	}
}

// stackVars fills a stack file template: {{edge}}, {{admin}}, {{testapp}},
// {{wiki}} (built on first use), {{dir}}.
func stackVars(t *testing.T, tmpl, edge, adminAddr string) string {
	t.Helper()
	if strings.Contains(tmpl, "{{wiki}}") {
		tmpl = strings.ReplaceAll(tmpl, "{{wiki}}", wiki(t))
	}
	r := strings.NewReplacer("{{edge}}", edge, "{{admin}}", adminAddr, "{{testapp}}", testappBin, "{{dir}}", traversable(t, t.TempDir()))
	return r.Replace(tmpl)
}

// traversable lets every user through dir and the test's temporary
// directory above it (Go makes them 0700): a database member's PostgreSQL
// runs as the postgres user in a directory below.
func traversable(t *testing.T, dir string) string {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stackFile is a stack file written for a test, with the addresses it
// gives the edge and the admin API.
type stackFile struct {
	path, edge, admin string
	// program runs the node instead of tandemBin when set: a stack with
	// backups needs one the postgres user may run (postgresTandem).
	program string
}

// writeStack fills tmpl and writes it to a file.
func writeStack(t *testing.T, tmpl string) stackFile {
	t.Helper()
	return writeStackOn(t, tmpl, "127.0.0.1")
}

// startNode writes the stack file and runs `tandem up` on it in this
// process. The node is stopped at the end of the test if still running.
func startNode(t *testing.T, tmpl string) *node {
	t.Helper()
	return startStack(t, writeStack(t, tmpl))
}

// startStack runs `tandem up` on a stack file written before, in this
// process, with more arguments if any.
func startStack(t *testing.T, sf stackFile, args ...string) *node {
	t.Helper()
	n := newNode(t, sf)
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	go func() {
		defer close(n.done)
		var opts cli.Options // what archive_command runs: see postgresTandem
		if sf.program != "" {
			opts.Program = []string{sf.program}
		}
		n.code = cli.Run(ctx, opts, append([]string{"up", "-f", sf.path}, args...), strings.NewReader(""), n.stdout, n.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		n.cleanup(time.Minute)
	})
	n.waitTokenFile(60 * time.Second)
	return n
}

// startProcess runs `tandem up` on a stack file as a process of its own:
// for the tests that signal or kill a node. The process is killed
// (SIGKILL) at the end of the test if still running.
func startProcess(t *testing.T, sf stackFile, args ...string) *node {
	t.Helper()
	n := newNode(t, sf)
	bin := tandemBin
	if sf.program != "" {
		bin = sf.program
	}
	cmd := exec.Command(bin, append([]string{"up", "-f", sf.path}, args...)...)
	cmd.Stdout, cmd.Stderr = n.stdout, n.stderr
	cmd.Env = append(os.Environ(), programEnv+"=tandem")
	// If this test binary dies, so do its nodes (and their instances).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startOnForkThread(cmd); err != nil {
		t.Fatal(err)
	}
	n.proc = cmd.Process
	n.stop = func() { cmd.Process.Signal(syscall.SIGTERM) }
	go func() {
		defer close(n.done)
		cmd.Wait()
		n.code = cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		n.cleanup(10 * time.Second)
	})
	n.waitTokenFile(60 * time.Second)
	return n
}

func newNode(t *testing.T, sf stackFile) *node {
	n := &node{t: t, edge: sf.edge, admin: sf.admin, stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan struct{})}
	if st, err := config.Load(sf.path); err == nil {
		n.tokenFile = tandemnode.RootTokenFile(st)
	}
	return n
}

// cleanup waits for tandem to exit, once told to, and shows its log if
// the test failed.
func (n *node) cleanup(timeout time.Duration) {
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.t.Errorf("tandem did not exit within %s of the end of the test%s", timeout, n.dumpGoroutines())
	}
	if n.t.Failed() {
		n.t.Logf("tandem stderr:\n%s", tail(n.stderr.String(), 60))
	}
}

// dumpGoroutines writes the stacks of this process's goroutines to a
// file, for a node in this process that does not stop, and says where.
func (n *node) dumpGoroutines() string {
	if n.proc != nil {
		return ""
	}
	f, err := os.CreateTemp("", "tandem-e2e-goroutines-*.txt")
	if err != nil {
		return ""
	}
	defer f.Close()
	pprof.Lookup("goroutine").WriteTo(f, 2)
	return "; goroutines in " + f.Name()
}

// waitTokenFile waits until the node has written its root token, which
// it does once the cluster is open, or has exited, or timeout passed.
func (n *node) waitTokenFile(timeout time.Duration) {
	if n.tokenFile == "" {
		return
	}
	deadline := time.After(timeout)
	for {
		if _, err := os.Stat(n.tokenFile); err == nil {
			return
		}
		select {
		case <-n.done:
			return
		case <-deadline:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// signal sends sig to a node that is a process.
func (n *node) signal(sig syscall.Signal) {
	n.t.Helper()
	if n.proc == nil {
		n.t.Fatalf("signal %v to a node in the test process; start it with startProcess", sig)
	}
	if err := n.proc.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
}

// wait waits for tandem to exit and returns its exit code.
func (n *node) wait(timeout time.Duration) int {
	n.t.Helper()
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.t.Fatalf("tandem did not exit within %s", timeout)
	}
	return n.code
}

// client is an admin API client with n's root token, one for the node's
// life: the tests poll through it.
func (n *node) client() *admin.Client {
	n.t.Helper()
	n.apiOnce.Do(func() {
		tok, err := os.ReadFile(n.tokenFile)
		if err != nil {
			return
		}
		n.api = admin.NewClientWith(n.admin, admin.ClientOptions{Token: strings.TrimSpace(string(tok))})
	})
	if n.api == nil {
		n.t.Fatalf("no root token in %s", n.tokenFile)
	}
	return n.api
}

// waitFor polls the node's status until cond holds or the deadline passes.
func (n *node) waitFor(what string, timeout time.Duration, cond func(admin.Status) bool) admin.Status {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	var last admin.Status
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			n.t.Fatalf("tandem exited (code %d) while waiting for %s", n.code, what)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := n.client().Status(ctx)
		cancel()
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("timed out after %s waiting for %s; last status %+v (err %v)", timeout, what, last, lastErr)
	return last
}

// healthy reports whether app has want healthy instances.
func healthy(app string, want int) func(admin.Status) bool {
	return func(st admin.Status) bool {
		for _, a := range st.Apps {
			if a.Name == app {
				return a.Healthy == want
			}
		}
		return false
	}
}

func instanceOf(st admin.Status, app, name string) admin.InstanceStatus {
	for _, a := range st.Apps {
		if a.Name == app {
			for _, in := range a.Instances {
				if in.Name == name {
					return in
				}
			}
		}
	}
	return admin.InstanceStatus{}
}

// writeStackOn fills tmpl for a node whose edge, admin API and cluster
// ports all listen on ip (one of 127.0.0.0/8, all local on Linux).
func writeStackOn(t *testing.T, tmpl, ip string) stackFile {
	t.Helper()
	sf := stackFile{
		path:  filepath.Join(t.TempDir(), "stack.yaml"),
		edge:  net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip))),
		admin: net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip))),
	}
	body := withClusterPorts(t, stackVars(t, tmpl, sf.edge, sf.admin), ip)
	if err := os.WriteFile(sf.path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "\nbackup:") {
		sf.program = postgresTandem(t)
	}
	return sf
}
