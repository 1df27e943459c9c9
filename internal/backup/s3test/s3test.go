// Package s3test runs a real S3-compatible server for tests: versitygw
// (pinned as a Go tool in go.mod) serving a posix directory on loopback,
// with signatures checked. Nothing here fakes S3.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The gateway's root credentials.
const (
	AccessKey = "tandemtest"
	SecretKey = "tandemtest-secret-0123456789"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// versitygwPath builds (or finds in the build cache) the versitygw binary.
func versitygwPath(t testing.TB) string {
	binary.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "tool", "-n", "versitygw").Output()
		if err != nil {
			binary.err = fmt.Errorf("go tool -n versitygw: %w", err)
			return
		}
		binary.path = strings.TrimSpace(string(out))
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// Gateway is a running versitygw.
type Gateway struct {
	t       testing.TB
	Root    string // the posix directory; bucket b's object k is Root/b/k
	Addr    string // 127.0.0.1:port
	Bucket  string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// Start starts versitygw on a free loopback port with one bucket; it is
// stopped when the test ends.
func Start(t testing.TB) *Gateway {
	t.Helper()
	g := &Gateway{t: t, Root: t.TempDir(), Bucket: "tandem"}
	g.logPath = filepath.Join(t.TempDir(), "versitygw.log")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.Addr = l.Addr().String()
	l.Close()
	g.Start()
	t.Cleanup(g.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(g.Bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return g
}

// Start (re)starts the gateway on its address and waits until it accepts
// connections.
func (g *Gateway) Start() {
	g.t.Helper()
	log, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	sidecar := filepath.Join(filepath.Dir(g.logPath), "meta")
	if err := os.MkdirAll(sidecar, 0o700); err != nil {
		g.t.Fatal(err)
	}
	cmd := exec.Command(versitygwPath(g.t), "--port", g.Addr, "posix", "--sidecar", sidecar, g.Root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start versitygw: %v", err)
	}
	log.Close()
	g.cmd, g.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(g.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", g.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-g.done:
			b, _ := os.ReadFile(g.logPath)
			g.t.Fatalf("versitygw exited at start:\n%s", b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("versitygw not listening on %s after 30s", g.Addr)
		}
	}
}

// Stop kills the gateway and waits for it to exit.
func (g *Gateway) Stop() {
	if g.cmd == nil {
		return
	}
	g.cmd.Process.Kill()
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		g.t.Errorf("versitygw did not exit")
	}
	g.cmd = nil
}

// Endpoint is the gateway's URL.
func (g *Gateway) Endpoint() string { return "http://" + g.Addr }

// Client is an S3 client of the gateway, as its root user.
func (g *Gateway) Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(g.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")})
}
