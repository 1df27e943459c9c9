package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
	tandemnode "github.com/tandem-run/tandem/internal/node"
)

// The end-to-end tests drive the built binary the way a user does: a stack
// file, `tandem up`, the edge's HTTP port, `tandem status --json`, signals.

var (
	tandemBin  string // the tandem binary under test
	testappBin string // the app its instances run
	wikiBin    string // the example monolith
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tandemBin = filepath.Join(dir, "tandem")
	testappBin = filepath.Join(dir, "testapp")
	wikiBin = filepath.Join(dir, "wiki")
	for _, b := range [][2]string{{tandemBin, "."}, {testappBin, "./testdata/testapp"}, {wikiBin, "../../examples/wiki"}} {
		args := []string{"build", "-o", b[0]}
		if b[1] == "." && raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, b[1])...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b[1], err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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

// node is a running `tandem up`.
type node struct {
	t     *testing.T
	cmd   *exec.Cmd
	edge  string // host:port
	admin string // host:port
	// tokenFile holds the node's root token once it has started; "" if
	// the stack file does not load.
	tokenFile string
	stdout    *syncBuffer
	stderr    *syncBuffer
	done      chan struct{}
	err       error // Wait's result, once done is closed
}

// stackVars fills a stack file template: {{edge}}, {{admin}}, {{testapp}},
// {{wiki}}, {{dir}}.
func stackVars(t *testing.T, tmpl, edge, adminAddr string) string {
	r := strings.NewReplacer("{{edge}}", edge, "{{admin}}", adminAddr, "{{testapp}}", testappBin, "{{wiki}}", wikiBin, "{{dir}}", t.TempDir())
	return r.Replace(tmpl)
}

// stackFile is a stack file written for a test, with the addresses it
// gives the edge and the admin API.
type stackFile struct {
	path, edge, admin string
}

// writeStack fills tmpl and writes it to a file.
func writeStack(t *testing.T, tmpl string) stackFile {
	t.Helper()
	sf := stackFile{path: filepath.Join(t.TempDir(), "stack.yaml"), edge: freeAddr(t), admin: freeAddr(t)}
	if err := os.WriteFile(sf.path, []byte(withClusterPorts(t, stackVars(t, tmpl, sf.edge, sf.admin), "127.0.0.1")), 0o644); err != nil {
		t.Fatal(err)
	}
	return sf
}

// startNode writes the stack file and starts `tandem up` on it. The node
// is stopped (SIGKILL) at the end of the test if still running.
func startNode(t *testing.T, tmpl string) *node {
	t.Helper()
	return startStack(t, writeStack(t, tmpl))
}

// startStack starts `tandem up` on a stack file written before.
func startStack(t *testing.T, sf stackFile) *node {
	t.Helper()
	return startStackArgs(t, sf)
}

// startStackArgs starts `tandem up` on a stack file with more arguments.
func startStackArgs(t *testing.T, sf stackFile, args ...string) *node {
	t.Helper()
	n := &node{t: t, edge: sf.edge, admin: sf.admin, stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan struct{})}
	if st, err := config.Load(sf.path); err == nil {
		n.tokenFile = tandemnode.RootTokenFile(st)
	}
	n.cmd = exec.Command(tandemBin, append([]string{"up", "-f", sf.path}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.stdout, n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("tandem stderr:\n%s", tail(n.stderr.String(), 60))
		}
	})
	n.waitTokenFile(60 * time.Second)
	return n
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

// adminArgs are the flags that point the CLI at n, with its root token.
func (n *node) adminArgs() []string {
	return []string{"--admin", n.admin, "--token-file", n.tokenFile}
}

// tandem runs the CLI against n with its root token: `tandem ARGS...
// --admin ADDR --token-file FILE` (the flags go before a "--", if any). It
// returns the combined output and the exit code.
func (n *node) tandem(args ...string) (string, int) {
	n.t.Helper()
	at := slices.Index(args, "--")
	if at < 0 {
		at = len(args)
	}
	return runTandem(n.t, nil, slices.Concat(args[:at], n.adminArgs(), args[at:])...)
}

// runTandem runs the CLI with args in env (nil: this process's) and
// returns its combined output and exit code.
func runTandem(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(tandemBin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatalf("tandem %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// client is an admin API client with n's root token.
func (n *node) client() *admin.Client {
	n.t.Helper()
	tok, err := os.ReadFile(n.tokenFile)
	if err != nil {
		n.t.Fatalf("read the root token: %v", err)
	}
	return admin.NewClientWith(n.admin, admin.ClientOptions{Token: strings.TrimSpace(string(tok))})
}

// status asks the node through the CLI, as a user would.
func (n *node) status() (admin.Status, error) {
	out, err := exec.Command(tandemBin, append([]string{"status", "--json"}, n.adminArgs()...)...).Output()
	if err != nil {
		return admin.Status{}, fmt.Errorf("tandem status: %w", err)
	}
	var st admin.Status
	if err := json.Unmarshal(out, &st); err != nil {
		return admin.Status{}, fmt.Errorf("decode status: %w\n%s", err, out)
	}
	return st, nil
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
			n.t.Fatalf("tandem exited while waiting for %s: %v", what, n.err)
		default:
		}
		st, err := n.status()
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

// signal sends sig to the tandem process.
func (n *node) signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
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
	if n.cmd.ProcessState == nil {
		n.t.Fatalf("tandem: %v", n.err)
	}
	return n.cmd.ProcessState.ExitCode()
}

// load is a bounded client: workers send requests until stopped, and every
// outcome is counted.
type load struct {
	mu       sync.Mutex // guards the counters below
	ok       map[string]int
	failures map[string][]string // kind -> examples
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type request func(ctx context.Context, c *http.Client) (kind string, err error)

// startLoad runs each request function in its own worker loop, at most
// every interval, until stop is called (or one minute passes).
func startLoad(reqs map[string]request, interval time.Duration) *load {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	l := &load{ok: map[string]int{}, failures: map[string][]string{}, cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for kind, f := range reqs {
		l.wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				_, err := f(ctx, client)
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				if err != nil {
					l.failures[kind] = append(l.failures[kind], err.Error())
				} else {
					l.ok[kind]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) counts(kind string) (ok int, failed []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok[kind], l.failures[kind]
}

// get returns a request that GETs url and wants a 200; it reports the
// instance that answered.
func get(url string) request { return getHeader(url, "X-Instance") }

// getHeader returns a request that GETs url, wants a 200 and reports the
// answer's header field.
func getHeader(url, field string) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return resp.Header.Get(field), nil
	}
}

// post returns a request that POSTs a small body to url.
func post(url string) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(strings.Repeat("x", 512)))
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
		}
		return "", nil
	}
}
