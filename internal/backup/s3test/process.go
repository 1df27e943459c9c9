package s3test

import (
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// ProcessOptions say how to run an S3-compatible server as a child
// process: the storage gateway, which a test binary or the tandem binary
// runs in its gateway mode.
type ProcessOptions struct {
	Name   string   // what messages call it: "gateway", "S3 server"
	Addr   string   // the loopback host:port it listens on
	Args   []string // its command line, the program first
	Env    []string // added to this process's environment
	Health string   // the path that answers 200 once it serves
	Log    string   // the file its output is appended to

	// StartCmd starts the command; nil is (*exec.Cmd).Start. It is there
	// for callers that must start their children from one thread.
	StartCmd func(*exec.Cmd) error
}

// Process is an S3-compatible server a test stops and starts: another
// site's store lost, a crash.
type Process struct {
	t    testing.TB
	opts ProcessOptions

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcess starts the server and waits until it serves; it is stopped
// when the test ends.
func StartProcess(t testing.TB, opts ProcessOptions) *Process {
	t.Helper()
	p := &Process{t: t, opts: opts}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// URL is the server's endpoint.
func (p *Process) URL() string { return "http://" + p.opts.Addr }

// Start (re)starts the server and waits until it serves.
func (p *Process) Start() {
	p.t.Helper()
	log, err := os.OpenFile(p.opts.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(p.opts.Args[0], p.opts.Args[1:]...)
	cmd.Env = append(os.Environ(), p.opts.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	start := p.opts.StartCmd
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := start(cmd); err != nil {
		p.t.Fatalf("start %s: %v", p.opts.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.URL() + p.opts.Health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(p.opts.Log)
			p.t.Fatalf("%s exited at start:\n%s", p.opts.Name, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("%s not serving on %s after 30s", p.opts.Name, p.opts.Addr)
}

// Stop kills the server and waits for it to exit.
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not exit", p.opts.Name)
	}
}

// FlipByte damages a stored object the way rot on a disk would: one bit
// of the byte at off of the file at path is flipped.
func FlipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
