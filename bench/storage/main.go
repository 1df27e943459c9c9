// Command storage measures GETs of a 100 KiB object that the edge serves
// from an S3-compatible store (a storage route), side by side with nginx
// proxying the same store: a cache hit (both cache it) and a miss (the
// object says no-store: every GET reads the store). The store is
// versitygw, run as tandem runs its embedded store; nginx reads the
// bucket anonymously (a public-read bucket policy), tandem signs its
// reads. The load is wrk's.
//
//	go run ./bench/storage                   # builds tandem
//	go run ./bench/storage -tandem bin/tandem -duration 20s -conns 64
//
// The program is its own app: run with BENCH_STORAGE_APP=1 it answers
// 200 on $PORT. Nothing leaves loopback.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/tandem-run/tandem/bench/host"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/storage"
)

func main() {
	if os.Getenv("BENCH_STORAGE_APP") == "1" {
		http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		os.Exit(1)
	}
	host.Main("storage", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

const (
	access = "bench-access"
	secret = "bench-secret-0123456789"
	bucket = "bench-media"
)

type options struct {
	tandem   string
	duration time.Duration
	conns    int
	dir      string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("storage", flag.ContinueOnError)
	fs.StringVar(&o.tandem, "tandem", "", "the tandem binary; built from ./cmd/tandem when empty")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "each measurement's length")
	fs.IntVar(&o.conns, "conns", 32, "wrk's connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-storage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.dir = dir
	if o.tandem == "" {
		o.tandem = filepath.Join(dir, "tandem")
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", o.tandem, "./cmd/tandem").CombinedOutput(); err != nil {
			return fmt.Errorf("build tandem: %w\n%s", err, b)
		}
	}
	store := freeAddr()
	gw, err := startProcess(ctx, filepath.Join(dir, "store.log"), append(os.Environ(), storage.GatewayEnv(storage.GatewayOptions{Access: access, Secret: secret})...),
		o.tandem, storage.GatewayArgs(storage.GatewayOptions{Listen: store, Dir: filepath.Join(dir, "objects"), Meta: filepath.Join(dir, "meta"), Region: "us-east-1"})...)
	if err != nil {
		return err
	}
	defer stopProcess(gw)
	if err := waitOK(ctx, "http://"+store+storage.GatewayHealthPath); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := prepareBucket(ctx, "http://"+store); err != nil {
		return err
	}
	edge, err := startTandem(ctx, o, store)
	if err != nil {
		return err
	}
	defer stopProcess(edge.cmd)
	nginx, err := startNginx(ctx, o, store)
	if err != nil {
		return err
	}
	defer stopProcess(nginx.cmd)

	fmt.Fprintf(out, "GET of a 100 KiB object from a versitygw store on loopback: wrk, 2 threads, %d connections, %s each\n\n", o.conns, o.duration)
	fmt.Fprintln(out, "| path | peer | requests/s | p50 | p99 |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, c := range []struct{ name, key string }{{"cache hit", "hit.bin"}, {"miss (no-store: every GET reads the store)", "miss.bin"}} {
		for _, p := range []struct {
			name, url string
		}{{"tandem edge", edge.url}, {"nginx proxy_pass", nginx.url}} {
			url := p.url + "/media/" + c.key
			if err := waitOK(ctx, url); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			r, err := wrk(ctx, url, o)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			fmt.Fprintf(out, "| %s | %s | %.0f | %s | %s |\n", c.name, p.name, r.rps, r.p50, r.p99)
		}
	}
	return nil
}

// prepareBucket creates the bucket, makes its objects readable without
// credentials (for nginx), and writes the two objects.
func prepareBucket(ctx context.Context, endpoint string) error {
	b, err := backup.NewS3Bucket(backup.S3Options{Endpoint: endpoint, Bucket: bucket, PathStyle: true, AccessKey: access, SecretKey: secret})
	if err != nil {
		return err
	}
	if _, err := b.Ensure(ctx); err != nil {
		return err
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, endpoint+"/"+bucket+"?policy", strings.NewReader(policy))
	if err := b.Sign(req); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bucket policy: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bucket policy: %s: %s", resp.Status, body)
	}
	obj := make([]byte, 100<<10)
	rand.Read(obj)
	for key, cc := range map[string]string{"hit.bin": "public, max-age=3600", "miss.bin": "no-store"} {
		meta := backup.ObjectMeta{ContentType: "application/octet-stream", CacheControl: cc}
		if _, err := b.Put(ctx, key, bytes.NewReader(obj), int64(len(obj)), backup.PutOptions{Meta: meta}); err != nil {
			return err
		}
	}
	return nil
}

type peer struct {
	cmd *exec.Cmd
	url string
}

const stackTmpl = `
cluster: { name: bench, data_dir: "{{.Dir}}/tandem" }
edge:
  listen: "{{.Edge}}"
  cache: { memory: 256MiB }
  routes:
    - { path: /media/, storage: app }
    - { path: /, app: app }
admin: { listen: "{{.Admin}}" }
log: { level: warn }
apps:
  app:
    command: ["{{.Self}}"]
    env: { BENCH_STORAGE_APP: "1" }
storage:
  store: { s3: { endpoint: "http://{{.Store}}", access_key: ` + access + `, secret_key: ` + secret + ` } }
  apps: { app: { bucket: ` + bucket + ` } }
`

func startTandem(ctx context.Context, o options, store string) (*peer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	edge := freeAddr()
	var stack bytes.Buffer
	template.Must(template.New("stack").Parse(stackTmpl)).Execute(&stack, map[string]string{
		"Dir": o.dir, "Edge": edge, "Admin": freeAddr(), "Self": self, "Store": store})
	path := filepath.Join(o.dir, "stack.yaml")
	if err := os.WriteFile(path, stack.Bytes(), 0o600); err != nil {
		return nil, err
	}
	cmd, err := startProcess(ctx, filepath.Join(o.dir, "tandem.log"), os.Environ(), o.tandem, "up", "-f", path)
	if err != nil {
		return nil, err
	}
	return &peer{cmd: cmd, url: "http://" + edge}, nil
}

const nginxTmpl = host.NginxPreamble + `  upstream store {
    server {{.Store}};
    keepalive 512;
  }
  proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=media:64m max_size=1g inactive=1h use_temp_path=off;
  server {
    listen {{.Listen}};
    location /media/ {
      proxy_pass http://store/` + bucket + `/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 16k;
      proxy_buffers 16 16k;
      proxy_cache media;
    }
  }
}
`

func startNginx(ctx context.Context, o options, store string) (*peer, error) {
	listen := freeAddr()
	ndir := filepath.Join(o.dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return nil, err
	}
	var conf bytes.Buffer
	template.Must(template.New("nginx").Parse(nginxTmpl)).Execute(&conf, map[string]any{
		"Dir": ndir, "Listen": listen, "Store": store, "Root": os.Geteuid() == 0})
	path := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	cmd, err := startProcess(ctx, filepath.Join(ndir, "nginx.log"), os.Environ(), "nginx", "-p", ndir, "-c", path, "-e", "stderr")
	if err != nil {
		return nil, err
	}
	return &peer{cmd: cmd, url: "http://" + listen}, nil
}

type wrkResult struct {
	rps      float64
	p50, p99 string
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p50RE = regexp.MustCompile(`\s50%\s+(\S+)`)
	p99RE = regexp.MustCompile(`\s99%\s+(\S+)`)
)

func wrk(ctx context.Context, url string, o options) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration+30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "wrk", "-t2", fmt.Sprintf("-c%d", o.conns), "-d"+o.duration.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, b)
	}
	s := string(b)
	if strings.Contains(s, "Non-2xx") {
		return wrkResult{}, fmt.Errorf("wrk: responses other than 2xx:\n%s", s)
	}
	var r wrkResult
	if m := rpsRE.FindStringSubmatch(s); m != nil {
		fmt.Sscan(m[1], &r.rps)
	}
	if m := p50RE.FindStringSubmatch(s); m != nil {
		r.p50 = m[1]
	}
	if m := p99RE.FindStringSubmatch(s); m != nil {
		r.p99 = m[1]
	}
	return r, nil
}

// startProcess runs a program with its output to log.
func startProcess(ctx context.Context, log string, env []string, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go cmd.Wait()
	return cmd, nil
}

// stopProcess ends a process with SIGTERM, SIGKILL after 10s.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	for range 100 {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
}

// waitOK GETs url until it answers 200, for at most a minute.
func waitOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: not 200 within a minute: %w", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr is a loopback address nobody listens on.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
