// Command deploy measures a rolling deploy with tandem: three instances of
// an app that takes one second to become ready are replaced under a steady
// load of GETs and POSTs, and the wall time of each deploy and the requests
// that failed during it are reported beside what the documented defaults
// of Docker Swarm, Kubernetes and Kamal give for the same app.
//
//	go run ./bench/deploy              # builds tandem, 3 rounds per setting
//	go run ./bench/deploy -rounds 5 -tandem bin/tandem
//
// The program is its own app: run with BENCH_DEPLOY_APP=1 it sleeps for
// BENCH_DEPLOY_READY, then serves on $PORT. Nothing leaves loopback.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

func main() {
	if os.Getenv("BENCH_DEPLOY_APP") == "1" {
		os.Exit(serveApp())
	}
	host.Main("deploy", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

// setting is one health-check configuration of the app in the stack file.
type setting struct {
	name   string
	health string // the stack file's health section
	note   string
}

var settings = []setting{
	{name: "tandem defaults", health: "{ path: /healthz }", note: "checks every 2s, healthy after 2 passes; surge 1"},
	{name: "tandem, checks every 250ms", health: "{ path: /healthz, interval: 250ms, timeout: 250ms, rise: 1 }", note: "surge 1"},
}

// documented are the other systems' documented defaults applied to the
// same app (3 instances, ready after 1s), computed, not measured.
var documented = [][3]string{
	{"Docker Swarm (update_config defaults, HEALTHCHECK defaults)",
		"≈ 3 × (first health check after 30s + monitor 5s) ≈ 105s, plus each old task's stop (grace up to 10s) before its replacement starts",
		"order: stop-first, parallelism 1: each task is stopped before its replacement starts (one instance fewer, requests in flight on it can fail); health interval 30s"},
	{"Kubernetes Deployment (RollingUpdate defaults, readinessProbe defaults)",
		"≈ 3 × 10s (readiness periodSeconds 10) ≈ 30s",
		"maxSurge 25% → 1, maxUnavailable 25% → 0; without a preStop delay, requests can still reach a terminating pod while endpoints update"},
	{"Kamal 2 (kamal-proxy defaults)",
		"≈ 1s ready + ≤1s health interval ≈ 2s per host",
		"one container per role per host, replaced at once on each host; health check every 1s, deploy timeout 30s, drain 30s"},
}

type options struct {
	tandem    string
	rounds    int
	instances int
	ready     time.Duration
	rate      int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.StringVar(&o.tandem, "tandem", "", "tandem binary (default: build ./cmd/tandem)")
	fs.IntVar(&o.rounds, "rounds", 3, "deploys per setting")
	fs.IntVar(&o.instances, "instances", 3, "instances of the app")
	fs.DurationVar(&o.ready, "ready", time.Second, "how long the app takes to become ready")
	fs.IntVar(&o.rate, "rate", 100, "requests per second during the deploys (half GET, half POST)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-deploy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.tandem == "" {
		o.tandem = filepath.Join(dir, "tandem")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.tandem, "./cmd/tandem")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build tandem (run from the repository root or give -tandem): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "# Rolling deploy: %d instances, app ready after %s, %d req/s of GET+POST\n\n", o.instances, o.ready, o.rate)
	fmt.Fprintln(out, "| setup | deploy wall time (median of rounds) | each round | failed requests / sent | note |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for i, s := range settings {
		res, err := measure(ctx, o, s, self, filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, "| %s (measured) | %s | %s | %d / %d | %s |\n", s.name, median(res.took).Round(10*time.Millisecond),
			roundList(res.took), res.failed, res.sent, s.note)
	}
	for _, d := range documented {
		fmt.Fprintf(out, "| %s (documented defaults, not measured) | %s | | | %s |\n", d[0], d[1], d[2])
	}
	return nil
}

type result struct {
	took         []time.Duration
	failed, sent int64
}

// measure starts tandem with the app, runs the deploys under load and
// stops tandem.
func measure(ctx context.Context, o options, s setting, app, dir string) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	edge, adminAddr := freeAddr(), freeAddr()
	// Its own etcd and node ports too: the defaults would collide with a
	// node already running on this machine.
	stack := fmt.Sprintf(`cluster: { name: bench, data_dir: %q, peer_port: %d, client_port: %d, node_port: %d }
edge: { listen: %q, cache: { memory: 0 }, access_log: off }
admin: { listen: %q }
log: { level: warn }
apps:
  app:
    command: [%q]
    instances: %d
    env: { BENCH_DEPLOY_APP: "1", BENCH_DEPLOY_READY: %q }
    health: %s
    deploy: { drain: 10s }
`, filepath.Join(dir, "data"), freePort(), freePort(), freePort(), edge, adminAddr, app, o.instances, o.ready.String(), s.health)
	rootToken := filepath.Join(dir, "data", "admin", "root.token") // written by tandem up
	file := filepath.Join(dir, "stack.yaml")
	if err := os.WriteFile(file, []byte(stack), 0o644); err != nil {
		return result{}, err
	}
	var logs bytes.Buffer
	up := exec.Command(o.tandem, "up", "-f", file)
	up.Stdout, up.Stderr = &logs, &logs
	if err := up.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		up.Process.Signal(syscall.SIGTERM)
		up.Wait()
	}()
	if err := waitHealthy(ctx, "http://"+edge+"/healthz", 60*time.Second); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, logs.String())
	}
	var res result
	lctx, stopLoad := context.WithCancel(ctx)
	var failed, sent atomic.Int64
	var wg sync.WaitGroup
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		wg.Go(func() { load(lctx, "http://"+edge+"/", method, o.rate/2, &sent, &failed) })
	}
	time.Sleep(time.Second) // the load runs before the first deploy
	var deployErr error
	for i := range o.rounds {
		start := time.Now()
		cmd := exec.CommandContext(ctx, o.tandem, "deploy", "app", "--admin", adminAddr, "--token-file", rootToken, "--env", fmt.Sprintf("ROUND=%d", i))
		outp, err := cmd.CombinedOutput()
		if err != nil {
			deployErr = fmt.Errorf("deploy %d: %w\n%s", i, err, outp)
			break
		}
		res.took = append(res.took, time.Since(start))
	}
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()
	res.failed, res.sent = failed.Load(), sent.Load()
	return res, deployErr
}

// load sends requests at a steady rate until ctx ends, counting failures:
// transport errors and non-2xx answers.
func load(ctx context.Context, url, method string, perSecond int, sent, failed *atomic.Int64) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	tick := time.NewTicker(time.Second / time.Duration(max(perSecond, 1)))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			var body io.Reader
			if method == http.MethodPost {
				body = strings.NewReader(strings.Repeat("p", 1024))
			}
			req, _ := http.NewRequest(method, url, body)
			sent.Add(1)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				failed.Add(1)
			}
		})
	}
}

func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the app did not become healthy through tandem")
}

// serveApp is the measured app: ready after BENCH_DEPLOY_READY, graceful on SIGTERM.
func serveApp() int {
	ready, _ := time.ParseDuration(os.Getenv("BENCH_DEPLOY_READY"))
	time.Sleep(ready)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func freeAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort()))
}

// freePort is a loopback port nobody listens on now.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func roundList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(10 * time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}
