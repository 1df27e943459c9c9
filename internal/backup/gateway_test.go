package backup

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

// The tests' S3-compatible store: a real versitygw (pinned as a Go tool in
// go.mod) serving a posix directory on loopback, with signatures checked.

const (
	gwAccessKey = "tandemtest"
	gwSecretKey = "tandemtest-secret-0123456789"
)

var gwBinary struct {
	once sync.Once
	path string
	err  error
}

// versitygwPath builds (or finds in the build cache) the versitygw binary.
func versitygwPath(t testing.TB) string {
	gwBinary.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "tool", "-n", "versitygw").Output()
		if err != nil {
			gwBinary.err = fmt.Errorf("go tool -n versitygw: %w", err)
			return
		}
		gwBinary.path = strings.TrimSpace(string(out))
	})
	if gwBinary.err != nil {
		t.Fatal(gwBinary.err)
	}
	return gwBinary.path
}

// gateway is a running versitygw.
type gateway struct {
	t       testing.TB
	Root    string // the posix directory; bucket b's object k is Root/b/k
	Addr    string // 127.0.0.1:port
	Bucket  string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startGateway starts versitygw on a free loopback port with one bucket.
func startGateway(t testing.TB) *gateway {
	t.Helper()
	g := &gateway{t: t, Root: t.TempDir(), Bucket: "tandem"}
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
	if _, err := g.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(g.Bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return g
}

// Start (re)starts the gateway on its address and waits until it accepts
// connections.
func (g *gateway) Start() {
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
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+gwAccessKey, "ROOT_SECRET_KEY="+gwSecretKey)
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
func (g *gateway) Stop() {
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

// Options returns S3Options for the gateway's bucket under prefix.
func (g *gateway) Options(prefix string) S3Options {
	return S3Options{Endpoint: "http://" + g.Addr, Bucket: g.Bucket, Prefix: prefix, PathStyle: true,
		AccessKey: gwAccessKey, SecretKey: gwSecretKey, DialTimeout: time.Second}
}

func (g *gateway) client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String("http://" + g.Addr),
		Credentials: credentials.NewStaticCredentialsProvider(gwAccessKey, gwSecretKey, "")})
}

// Store returns an S3Store on the gateway under prefix.
func (g *gateway) Store(prefix string) *S3Store {
	g.t.Helper()
	s, err := NewS3Store(g.Options(prefix))
	if err != nil {
		g.t.Fatal(err)
	}
	return s
}
