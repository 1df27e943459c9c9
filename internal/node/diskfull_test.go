package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/disktest"
)

// testAppEnv runs this test binary as the app of the tests' nodes.
const testAppEnv = "TANDEM_NODE_TEST_APP"

func TestMain(m *testing.M) {
	if os.Getenv(testAppEnv) == "1" {
		os.Exit(testApp())
	}
	os.Exit(m.Run())
}

// testApp is the app the tests' instances run: it serves on $PORT, its
// /healthz passes, /cacheable/... may be kept by the edge for a minute,
// anything else may not. It stops on SIGTERM.
func testApp() int {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/cacheable/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "%s from %s\n", r.URL.Path, os.Getenv("TANDEM_INSTANCE"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "%s from %s\n", r.URL.Path, os.Getenv("TANDEM_INSTANCE"))
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testapp is the command of the tests' app: this test binary.
func testapp(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// lockedBuffer is a log sink safe for the node's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testNode is a node running in the test's process until the test ends.
type testNode struct {
	logs    *lockedBuffer // its log
	stopped chan struct{} // closed once Run has returned
	err     error         // Run's error, once stopped is closed
}

// runNode builds a node of st and runs it until the test ends; its log is
// shown if the test failed.
func runNode(t *testing.T, st *config.Stack) *testNode {
	t.Helper()
	tn := &testNode{logs: &lockedBuffer{}, stopped: make(chan struct{})}
	n, err := New(Options{Stack: st, Logger: slog.New(slog.NewTextHandler(tn.logs, nil)), Environ: os.Environ(), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(tn.stopped)
		tn.err = n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-tn.stopped:
			if tn.err != nil {
				t.Errorf("node Run = %v", tn.err)
			}
		case <-time.After(time.Minute):
			t.Errorf("node did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("node log:\n%s", tn.logs.String())
		}
	})
	return tn
}

// exited reports whether the node's Run has returned, and its error.
func (tn *testNode) exited() (bool, error) {
	select {
	case <-tn.stopped:
		return true, tn.err
	default:
		return false, nil
	}
}

// diskNode is a node running in the test's process on a small filesystem
// of its own as data_dir.
type diskNode struct {
	edge      string
	adminAddr string
	admin     *admin.Client
	disk      string
	logs      *lockedBuffer
}

// startDiskNode starts a one-node stack with two testapp instances whose
// data_dir is a fresh tmpfs of size bytes.
func startDiskNode(t *testing.T, size int64) *diskNode {
	t.Helper()
	disk := disktest.Mount(t, size)
	edge := "127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	adminAddr := "127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	stack := fmt.Sprintf(`
cluster: { name: disk, node: n1, zone: a, data_dir: %q, advertise: 127.0.0.1, peer_port: %d, client_port: %d, node_port: %d }
edge:
  listen: %q
  cache: { memory: 64MiB }
admin: { listen: %q }
apps:
  web:
    command: [%q]
    env: { TANDEM_NODE_TEST_APP: "1" }
    instances: 2
    health: { path: /healthz, interval: 200ms, timeout: 150ms, rise: 1 }
`, filepath.Join(disk, "tandem"), clustertest.FreePort(t), clustertest.FreePort(t), clustertest.FreePort(t), edge, adminAddr, testapp(t))
	st, err := config.Parse("stack.yaml", []byte(stack), t.TempDir(), nil)
	if err != nil {
		t.Fatalf("stack file: %v", err)
	}
	tn := runNode(t, st)
	logs := tn.logs
	dn := &diskNode{edge: edge, adminAddr: adminAddr, disk: disk, logs: logs}
	deadline := time.Now().Add(time.Minute)
	for {
		if stopped, err := tn.exited(); stopped {
			t.Fatalf("node stopped while starting: %v\n%s", err, logs.String())
		}
		if resp, err := http.Get("http://" + edge + "/cacheable/probe"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not serving within a minute\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	token, err := os.ReadFile(RootTokenFile(st))
	if err != nil {
		t.Fatal(err)
	}
	dn.admin = admin.NewClientWith(adminAddr, admin.ClientOptions{Token: strings.TrimSpace(string(token))})
	return dn
}

// getLoad sends GETs to the edge from a few goroutines until stopped,
// counting the ones that fail.
type getLoad struct {
	stop           func()
	sent, failures atomic.Int64
	mu             sync.Mutex // guards firstErr
	firstErr       string
}

func startGetLoad(edge string) *getLoad {
	l := &getLoad{}
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				path := fmt.Sprintf("/cacheable/page-%d", (w*7+i)%20)
				if i%3 == 0 {
					path = "/" // not cacheable: every one reaches an instance
				}
				l.get(client, "http://"+edge+path)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	l.stop = func() { cancel(); wg.Wait() }
	return l
}

func (l *getLoad) get(client *http.Client, url string) {
	l.sent.Add(1)
	resp, err := client.Get(url)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			err = fmt.Errorf("GET %s = %d", url, resp.StatusCode)
		}
	}
	if err != nil {
		l.failures.Add(1)
		l.mu.Lock()
		if l.firstErr == "" {
			l.firstErr = err.Error()
		}
		l.mu.Unlock()
	}
}

// purge sends an edge PURGE, as a CMS does, and returns the status and
// body.
func (n *diskNode) purge(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("PURGE", "http://"+n.edge+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PURGE %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (n *diskNode) deploy(t *testing.T) (admin.DeployEvent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return n.admin.Deploy(ctx, "web", admin.DeployRequest{Who: "test"}, nil)
}

func (n *diskNode) cluster(t *testing.T) *admin.ClusterStatus {
	t.Helper()
	st, err := n.admin.Status(t.Context())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.Cluster == nil {
		t.Fatal("status has no cluster section")
	}
	return st.Cluster
}

// waitCluster polls the node's status until ok holds.
func (n *diskNode) waitCluster(t *testing.T, timeout time.Duration, what string, ok func(*admin.ClusterStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cs := n.cluster(t)
		if ok(cs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; cluster status %+v", what, timeout, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFullDiskKeepsServing is the defect end to end: a node whose
// data_dir fills up under GET load, sent purges and deploys as a CMS and
// an operator would. The data plane keeps serving (no GET fails), the
// process stays up, purges answer 503 naming the disk, deploys are
// refused saying why, the status and metrics tell it, errors are logged
// a bounded number of times; once space is freed, purges and deploys
// work again without a restart.
func TestFullDiskKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node with instances on a filesystem of its own")
	}
	n := startDiskNode(t, 512<<20)
	if code, body := n.purge(t, "/cacheable/page-1"); code != 200 {
		t.Fatalf("PURGE with room = %d %q", code, body)
	}
	load := startGetLoad(n.edge)
	defer load.stop()
	time.Sleep(time.Second)

	fill := disktest.Fill(t, n.disk, 50<<20) // below the 128 MiB floor
	logStart := len(n.logs.String())
	code, body := n.purge(t, "/cacheable/page-2")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "data_dir "+filepath.Join(n.disk, "tandem")) ||
		!strings.Contains(body, "below the 128 MiB floor") {
		t.Errorf("PURGE below the floor = %d %q; want 503 naming data_dir and the floor", code, body)
	}
	_, err := n.deploy(t)
	if !errors.Is(err, admin.ErrUnavailable) || !strings.Contains(err.Error(), "below the 128 MiB floor: control-plane writes refused") {
		t.Errorf("deploy below the floor = %v; want ErrUnavailable naming the floor", err)
	}
	if _, err := n.admin.Purge(t.Context(), admin.PurgeRequest{URL: "http://" + n.edge + "/cacheable/page-3"}); err == nil ||
		!strings.Contains(err.Error(), "below the 128 MiB floor") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("admin purge below the floor = %v; want a 503 naming the floor", err)
	}
	n.waitCluster(t, 10*time.Second, "status to say the disk is low and the member stopped", func(cs *admin.ClusterStatus) bool {
		return cs.Disk.Low && !cs.Quorum && strings.Contains(cs.Error, "below the 128 MiB floor") && cs.Disk.WritesRefused >= 2
	})
	metrics := scrapeAdmin(t, n)
	for _, want := range []string{"tandem_data_dir_low 1\n", "tandem_cluster_quorum 0\n", `tandem_control_plane_writes_refused_total{cause="disk"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	fill.Leave(0) // and then to the last byte: the node gives etcd its reserve
	deadline := time.Now().Add(10 * time.Second)
	for disktest.Free(t, n.disk) < 16<<20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	fill.Leave(0) // which something else takes too
	for i := range 20 {
		if code, body := n.purge(t, fmt.Sprintf("/cacheable/page-%d", i)); code != http.StatusServiceUnavailable || !strings.Contains(body, "below the 128 MiB floor") {
			t.Errorf("PURGE on a full disk = %d %q; want 503 naming the floor", code, body)
			break
		}
	}
	// Refused for the floor; or, when even the audit log's last line
	// found no room, because it cannot be audited.
	_, err = n.deploy(t)
	if msg := fmt.Sprint(err); !errors.Is(err, admin.ErrUnavailable) ||
		!strings.Contains(msg, "below the 128 MiB floor") && !(strings.Contains(msg, "audit log unavailable") && strings.Contains(msg, "no space left on device")) {
		t.Errorf("deploy on a full disk = %v; want ErrUnavailable naming the floor or the audit log's full disk", err)
	}
	t.Logf("deploy on a full disk: %v", err)
	time.Sleep(3 * time.Second) // the disk stays full under load a while
	logEnd := len(n.logs.String())
	errorLines := strings.Count(n.logs.String()[logStart:logEnd], "level=ERROR")
	warnLines := strings.Count(n.logs.String()[logStart:logEnd], "level=WARN")

	fill.Remove()
	n.waitCluster(t, 30*time.Second, "control plane back", func(cs *admin.ClusterStatus) bool { return cs.Quorum && !cs.Disk.Low })
	if code, body := n.purge(t, "/cacheable/page-4"); code != 200 {
		t.Errorf("PURGE once space is freed = %d %q; want 200", code, body)
	}
	ev, err := n.deploy(t)
	if err != nil || ev.Result != "succeeded" {
		t.Errorf("deploy once space is freed = %+v, %v; want succeeded", ev, err)
	}
	time.Sleep(time.Second)
	load.stop()
	t.Logf("GETs sent %d, failed %d; while the disk was low or full (about 5s, 22 purges, 2 deploys): %d ERROR and %d WARN lines",
		load.sent.Load(), load.failures.Load(), errorLines, warnLines)
	if f := load.failures.Load(); f != 0 {
		t.Errorf("%d of %d GETs failed (first: %s); want none", f, load.sent.Load(), load.firstErr)
	}
	if testing.Verbose() {
		t.Logf("log while the disk was low or full:\n%s", n.logs.String()[logStart:logEnd])
	}
	if errorLines > 0 || warnLines > 20 {
		t.Errorf("%d ERROR and %d WARN lines while the disk was low or full; want none and a few at most", errorLines, warnLines)
	}
}

// scrapeAdmin reads the node's /metrics with its root token.
func scrapeAdmin(t *testing.T, n *diskNode) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+n.adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.admin.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
