// Command cluster measures a three-zone tandem cluster on one machine:
// how long a purge sent to one node takes to be applied by the other two,
// and how long traffic at one node's edge suffers when every instance in
// its zone is killed.
//
//	go run ./bench/cluster                 # builds tandem; 200 purges
//	go run ./bench/cluster -purges 500 -tandem bin/tandem
//
// The three nodes listen on 127.0.0.1, .2 and .3 (all of 127.0.0.0/8 is
// local on Linux), each in its own zone. The program is its own app: run
// with BENCH_CLUSTER_APP=1 it serves on $PORT. Nothing leaves loopback.
package main

import (
	"context"
	"encoding/json"
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
	if os.Getenv("BENCH_CLUSTER_APP") == "1" {
		os.Exit(serveApp())
	}
	host.Main("cluster", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

type options struct {
	tandem string
	purges int
	kills  int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&o.tandem, "tandem", "", "tandem binary (default: build ./cmd/tandem)")
	fs.IntVar(&o.purges, "purges", 200, "purges to time")
	fs.IntVar(&o.kills, "kills", 3, "rounds of killing zone a's instances")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tandem-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.tandem == "" {
		o.tandem = filepath.Join(dir, "tandem")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.tandem, "./cmd/tandem")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build tandem: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c, err := startCluster(ctx, o.tandem, self, dir)
	defer c.stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "# tandem cluster: 3 nodes in 3 zones on loopback, %s\n\n", time.Now().UTC().Format(time.DateOnly))
	lat, err := measurePurges(ctx, c, o.purges)
	if err != nil {
		return fmt.Errorf("purges: %w", err)
	}
	fmt.Fprintf(out, "## Purge propagation (%d purges sent to node a, applied on b and c)\n\n", len(lat))
	fmt.Fprintln(out, "| measure | p50 | p90 | p99 | max |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	fmt.Fprintf(out, "| PURGE at a → object re-fetched at b and c | %s | %s | %s | %s |\n\n", pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100))
	fo, err := measureFailover(ctx, c, o.kills)
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	fmt.Fprintf(out, "## Zone a's instances SIGKILLed under load at node a's edge (%d rounds)\n\n", len(fo))
	fmt.Fprintln(out, "| round | requests | failed | slowest request after the kill | first answer from another zone after |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for i, f := range fo {
		fmt.Fprintf(out, "| %d | %d | %d | %s | %s |\n", i+1, f.sent, f.failed, f.slowest.Round(time.Millisecond), f.spill.Round(time.Millisecond))
	}
	return nil
}

// node is one running `tandem up`.
type node struct {
	name, zone, ip string
	edge, admin    string
	tokenFile      string // the node's root token, for the CLI
	cmd            *exec.Cmd
}

type cluster struct {
	tandem string
	nodes  []*node
}

func (c *cluster) stop() {
	for _, n := range c.nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				n.cmd.Process.Kill()
			}
		}
	}
}

const stack = `
cluster: { name: bench, node: %s, zone: %s, data_dir: %q, advertise: %s, peer_port: %d, client_port: %d, node_port: %d }
edge:
  listen: %q
  access_log: "off"
  cache: { memory: 64MiB, disk: { size: 0 } }
admin: { listen: %q }
log: { level: warn }
apps:
  web:
    command: [%q]
    env: { BENCH_CLUSTER_APP: "1" }
    instances: 2
    health: { path: /healthz, interval: 200ms, timeout: 200ms, rise: 1, fall: 2 }
`

func startCluster(ctx context.Context, tandem, app, dir string) (*cluster, error) {
	c := &cluster{tandem: tandem}
	token := ""
	for i, zone := range []string{"a", "b", "c"} {
		ip := "127.0.0." + strconv.Itoa(i+1)
		n := &node{name: "node-" + zone, zone: zone, ip: ip, edge: freeAddr(ip), admin: freeAddr(ip)}
		n.tokenFile = filepath.Join(dir, n.name, "admin", "root.token")
		file := filepath.Join(dir, n.name+".yaml")
		body := fmt.Sprintf(stack, n.name, zone, filepath.Join(dir, n.name), ip, freePort(ip), freePort(ip), freePort(ip), n.edge, n.admin, app)
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			return c, err
		}
		args := []string{"up", "-f", file}
		if token != "" {
			args = append(args, "--join", token)
		}
		n.cmd = exec.Command(tandem, args...)
		logf, err := os.Create(filepath.Join(dir, n.name+".log"))
		if err != nil {
			return c, err
		}
		defer logf.Close() // the child has its own descriptor
		n.cmd.Stdout, n.cmd.Stderr = io.Discard, logf
		if err := n.cmd.Start(); err != nil {
			return c, err
		}
		c.nodes = append(c.nodes, n)
		if err := waitOK(ctx, "http://"+n.edge+"/", 60*time.Second); err != nil {
			return c, fmt.Errorf("%s: %w", n.name, err)
		}
		if token == "" {
			out, err := exec.CommandContext(ctx, tandem, "cluster", "token", "--admin", n.admin, "--token-file", n.tokenFile).Output()
			if err != nil {
				return c, fmt.Errorf("tandem cluster token: %w", err)
			}
			token = strings.TrimSpace(string(out))
		}
	}
	// Let every node see the others' instances.
	time.Sleep(3 * time.Second)
	return c, nil
}

// measurePurges caches an object at b and c, purges its tag at a, and
// times until both b and c fetch it again from an instance.
func measurePurges(ctx context.Context, c *cluster, count int) ([]time.Duration, error) {
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	client := &http.Client{Timeout: 5 * time.Second}
	var lat []time.Duration
	for i := range count {
		path := fmt.Sprintf("/obj/%d?tag=t%d", i, i)
		for _, n := range []*node{b, cc} {
			if _, err := fetch(ctx, client, "http://"+n.edge+path); err != nil {
				return nil, err
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "PURGE", "http://"+a.edge+"/", nil)
		req.Header.Set("Surrogate-Key", "t"+strconv.Itoa(i))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("PURGE: status %d", resp.StatusCode)
		}
		var worst time.Duration
		for _, n := range []*node{b, cc} {
			deadline := start.Add(10 * time.Second)
			for {
				st, err := fetch(ctx, client, "http://"+n.edge+path)
				if err != nil {
					return nil, err
				}
				if !strings.Contains(st, "hit") {
					worst = max(worst, time.Since(start))
					break
				}
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("%s never applied purge %d", n.name, i)
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		lat = append(lat, worst)
	}
	slices.Sort(lat)
	return lat, nil
}

// fetch GETs url and returns its Cache-Status.
func fetch(ctx context.Context, c *http.Client, url string) (string, error) {
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
	return resp.Header.Get("Cache-Status"), nil
}

type failover struct {
	sent, failed   int64
	slowest, spill time.Duration
}

// measureFailover sends 8 concurrent request loops to node a's edge,
// SIGKILLs its instances, and reports failures, the slowest request after
// the kill and how soon another zone answered.
func measureFailover(ctx context.Context, c *cluster, rounds int) ([]failover, error) {
	a := c.nodes[0]
	var out []failover
	for range rounds {
		pids, err := instancePIDs(c.tandem, a)
		if err != nil {
			return nil, err
		}
		var f failover
		var sent, failed atomic.Int64
		var mu sync.Mutex
		var killed time.Time
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		for range 8 {
			wg.Go(func() {
				for lctx.Err() == nil {
					t0 := time.Now()
					req, _ := http.NewRequestWithContext(lctx, http.MethodGet, "http://"+a.edge+"/", nil)
					resp, err := client.Do(req)
					if lctx.Err() != nil {
						return
					}
					sent.Add(1)
					zone := ""
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						zone = resp.Header.Get("X-Zone")
						if resp.StatusCode != http.StatusOK {
							err = errors.New(resp.Status)
						}
					}
					if err != nil {
						failed.Add(1)
					}
					mu.Lock()
					if !killed.IsZero() && t0.After(killed) {
						f.slowest = max(f.slowest, time.Since(t0))
						if zone != "" && zone != "a" && f.spill == 0 {
							f.spill = time.Since(killed)
						}
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Second)
		mu.Lock()
		killed = time.Now()
		mu.Unlock()
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(3 * time.Second)
		cancel()
		wg.Wait()
		f.sent, f.failed = sent.Load(), failed.Load()
		out = append(out, f)
		if err := waitOK(ctx, "http://"+a.edge+"/", 30*time.Second); err != nil {
			return out, err
		}
		time.Sleep(2 * time.Second)
	}
	return out, nil
}

// instancePIDs reads the node's instance processes from its status.
func instancePIDs(tandem string, n *node) ([]int, error) {
	out, err := exec.Command(tandem, "status", "--json", "--admin", n.admin, "--token-file", n.tokenFile).Output()
	if err != nil {
		return nil, fmt.Errorf("tandem status: %w", err)
	}
	var st struct {
		Apps []struct {
			Instances []struct {
				PID int `json:"pid"`
			} `json:"instances"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	var pids []int
	for _, a := range st.Apps {
		for _, in := range a.Instances {
			if in.PID > 0 {
				pids = append(pids, in.PID)
			}
		}
	}
	if len(pids) == 0 {
		return nil, errors.New("node a runs no instance")
	}
	return pids, nil
}

func waitOK(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering 200 within %s", url, timeout)
}

// serveApp is the benchmark's app: cacheable objects tagged from the
// query, and its zone on every answer.
func serveApp() int {
	zone := os.Getenv("TANDEM_ZONE")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /obj/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Surrogate-Key", r.URL.Query().Get("tag"))
		w.Header().Set("X-Zone", zone)
		io.WriteString(w, "object\n")
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Zone", zone)
		io.WriteString(w, "hello\n")
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func freePort(ip string) int {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func freeAddr(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(freePort(ip))) }

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := min(len(sorted)-1, (len(sorted)*p)/100)
	return sorted[i].Round(10 * time.Microsecond).String()
}
