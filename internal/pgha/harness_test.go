package pgha

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/testports"
)

// The test environment: real PostgreSQL run as the postgres user (so
// the tests run as root), and a real embedded etcd from internal/cluster.

var (
	templateOnce sync.Once
	templateDir  string // a data directory initdb made once per test binary
	templateErr  error
	testRoot     string // where every test's member directories live
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testRoot != "" && code == 0 { // kept for a look when a test failed
		os.RemoveAll(testRoot)
	}
	os.Exit(code)
}

// needPostgres skips tests that need PostgreSQL where it cannot run.
func needPostgres(t *testing.T) Install {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: PostgreSQL runs as the postgres user")
	}
	inst, err := FindInstall(t.Context(), "", "")
	if err != nil {
		t.Skipf("needs PostgreSQL and its user: %v", err)
	}
	return inst
}

// skipShort skips a test that runs PostgreSQL clusters through faults
// for tens of seconds; -short keeps the unit tests and one bootstrap.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a PostgreSQL cluster through faults; run without -short")
	}
}

// testDir returns a fresh directory the postgres user can reach (t.TempDir
// is root's, mode 0700).
func testDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(rootDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(d)
		}
	})
	return d
}

// rootDir is the directory of this test binary's files, made once.
func rootDir(t *testing.T) string {
	t.Helper()
	if testRoot == "" {
		d, err := os.MkdirTemp("", "pgha-test-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		testRoot = d
	}
	return testRoot
}

// template returns a data directory made by initdb once, with the same
// options a Member uses, for members to start from.
func template(t *testing.T, inst Install) string {
	t.Helper()
	templateOnce.Do(func() {
		root := filepath.Join(rootDir(t), "template")
		dir := filepath.Join(root, "data")
		if err := os.Mkdir(root, 0o700); err != nil {
			templateErr = err
			return
		}
		if err := os.Chown(root, int(inst.UID), int(inst.GID)); err != nil {
			templateErr = err
			return
		}
		srv := &server{inst: inst, l: layout{root: root}}
		pw := filepath.Join(root, "pw")
		os.WriteFile(pw, []byte("template\n"), 0o644)
		_, templateErr = srv.program(context.Background(), "initdb", initdbArgs(dir, pw)...)
		templateDir = dir
	})
	if templateErr != nil {
		t.Fatalf("initdb template: %v", templateErr)
	}
	return templateDir
}

// copyTemplate puts a copy of the template in dir/data.
func copyTemplate(t *testing.T, inst Install, dir string) {
	t.Helper()
	src := template(t, inst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, int(inst.UID), int(inst.GID))
	if out, err := exec.Command("cp", "-a", src, filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v: %s", err, out)
	}
}

// testEtcd is a one-node tandem cluster (embedded etcd with its CA).
type testEtcd struct {
	c          *cluster.Cluster
	clientAddr string // host:port of etcd's client port
}

// freePort is a port for etcd's listeners and the node's: like
// PostgreSQL's, below the kernel's ephemeral range (32768 and up), so
// that no port another test binds with :0 (the proxies', a client's) can
// take it between its choice and its use — with the tests running in
// parallel, one did.
func freePort(t *testing.T) int {
	t.Helper()
	return lowPort(t)
}

// pgPort is a port for a PostgreSQL server.
func pgPort(t *testing.T) int {
	t.Helper()
	return lowPort(t)
}

// lowPort hands out ports from this package's range (testports.PGHA).
func lowPort(t *testing.T) int {
	t.Helper()
	return testports.PGHA.Free(t, "127.0.0.1")
}

func startEtcd(t *testing.T) *testEtcd {
	t.Helper()
	client := freePort(t)
	c, err := cluster.New(cluster.Options{
		Name: "test", Node: "etcd", Zone: "z0", DataDir: t.TempDir(), Advertise: "127.0.0.1",
		PeerPort: freePort(t), ClientPort: client, NodePort: freePort(t), TickMs: 50, ElectionMs: 500,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Open(ctx); err != nil {
		t.Fatalf("open etcd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &testEtcd{c: c, clientAddr: "127.0.0.1:" + strconv.Itoa(client)}
}

// proxy is a TCP proxy on loopback the test can cut: a partition.
type proxy struct {
	ln     net.Listener
	target string
	cutOff atomic.Bool
	mu     sync.Mutex // guards conns
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }
func (p *proxy) port() int    { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cutOff.Load() {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

func (p *proxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, u) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(u, c); u.Close() })
	wg.Go(func() { io.Copy(c, u); c.Close() })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *proxy) track(c, u net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutOff.Load() {
		c.Close()
		u.Close()
		return false
	}
	p.conns[c], p.conns[u] = true, true
	return true
}

// cut drops every connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	p.cutOff.Store(true)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *proxy) restore() { p.cutOff.Store(false) }

// testMember is one member run in-process: its own etcd client behind a
// proxy (cut = cut off from etcd), and its PostgreSQL behind a proxy for
// the other members (cut = cut off from them). Clients of the test reach
// its PostgreSQL directly.
type testMember struct {
	t      *testing.T
	name   string
	zone   string
	dir    string
	port   int
	etcd   *proxy
	peer   *proxy
	opts   Options
	m      *Member
	store  *cluster.DatabaseStore
	cancel context.CancelFunc
	done   chan error
	events chan Event
	// logMu guards logged, every line the member logged.
	logMu  sync.Mutex
	logged []string
}

// logLines returns how many of the member's log lines contain s.
func (tm *testMember) logLines(s string) int {
	tm.logMu.Lock()
	defer tm.logMu.Unlock()
	n := 0
	for _, l := range tm.logged {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// clusterSpec configures a test cluster.
type clusterSpec struct {
	names        []string
	asynchronous bool
	strict       bool
	seed         string // member given a copy of the template; "" runs initdb
	// sites maps members to their sites and leaderSite names the leader
	// site; nil and "" leave the site rules off.
	sites      map[string]string
	leaderSite string
	archive    Archive
	bootstrap  func(ctx context.Context, dir string) error
	// dirs puts a member's directory somewhere else than the cluster's
	// test directory (a small filesystem of its own); by member name.
	dirs map[string]string
}

type testCluster struct {
	t       *testing.T
	inst    Install
	etcd    *testEtcd
	spec    clusterSpec
	members map[string]*testMember
	dir     string

	credsMu sync.Mutex // guards creds
	creds   *Credentials
}

func newTestCluster(t *testing.T, spec clusterSpec) *testCluster {
	t.Helper()
	inst := needPostgres(t)
	tc := &testCluster{t: t, inst: inst, etcd: startEtcd(t), spec: spec, members: make(map[string]*testMember), dir: testDir(t)}
	for i, n := range spec.names {
		tm := &testMember{t: t, name: n, zone: "z" + strconv.Itoa(i+1), dir: filepath.Join(tc.dir, n), port: pgPort(t), events: make(chan Event, 100)}
		if d, ok := spec.dirs[n]; ok {
			tm.dir = d
		}
		tm.etcd = newProxy(t, tc.etcd.clientAddr)
		tm.peer = newProxy(t, "127.0.0.1:"+strconv.Itoa(tm.port))
		tc.members[n] = tm
		if n == spec.seed {
			copyTemplate(t, inst, tm.dir)
		}
	}
	t.Cleanup(tc.stopAll)
	if spec.seed != "" {
		// The seeded member bootstraps; the others clone from it.
		tc.start(spec.seed)
		waitFor(t, 60*time.Second, spec.seed+" bootstrapping", func() bool { return tc.status(spec.seed).Role == "primary" })
	}
	for _, n := range spec.names {
		if n != spec.seed {
			tc.start(n)
		}
	}
	return tc
}

// start runs member n (again).
func (tc *testCluster) start(n string) {
	t := tc.t
	t.Helper()
	tm := tc.members[n]
	store, err := tc.etcd.c.OpenDatabaseStore("pg", "https://"+tm.etcd.addr())
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key := tc.etcd.c.TLSPEM()
	tm.opts = Options{
		Name: n, Zone: tm.zone, Site: tc.spec.sites[n], LeaderSite: tc.spec.leaderSite, Members: tc.spec.names, DataDir: tm.dir,
		Advertise: "127.0.0.1", AdvertisePort: tm.peer.port(), Port: tm.port,
		Asynchronous: tc.spec.asynchronous, Strict: tc.spec.strict,
		Parameters: map[string]string{"shared_buffers": "32MB", "max_connections": "40"},
		Store:      store, TLS: TLS{CA: ca, Cert: cert, Key: key},
		Archive: tc.spec.archive, Bootstrap: tc.spec.bootstrap,
		Logger: testLogger(t, n, func(line string) {
			tm.logMu.Lock()
			tm.logged = append(tm.logged, line)
			tm.logMu.Unlock()
		}),
		OnEvent: func(e Event) {
			select {
			case tm.events <- e:
			default:
			}
		},
	}
	m, err := New(tm.opts)
	if err != nil {
		t.Fatalf("New(%s) = %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm.m, tm.store, tm.cancel, tm.done = m, store, cancel, make(chan error, 1)
	go func() { tm.done <- m.Run(ctx) }()
}

// stop stops member n cleanly.
func (tc *testCluster) stop(n string) {
	tm := tc.members[n]
	if tm.m == nil {
		return
	}
	tm.cancel()
	if err := <-tm.done; err != nil {
		tc.t.Errorf("Run(%s) = %v", n, err)
	}
	tm.store.Close()
	tm.m = nil
}

// kill kills member n's node: the member stops at once without cleaning
// up, its postgres (postmaster and children) is SIGKILLed and its etcd
// client vanishes. It returns when the kill began.
func (tc *testCluster) kill(n string) time.Time {
	tm := tc.members[n]
	at := time.Now()
	pid := tm.m.srv.pid()
	kids := childrenOf(pid)
	tm.m.abandon()
	<-tm.done
	killProcesses(pid, kids)
	tm.m.srv.wait()
	tm.store.Close()
	tm.m = nil
	tc.t.Logf("killed %s at %s (took %s)", n, at.Format("15:04:05.000"), time.Since(at).Round(time.Millisecond))
	return at
}

func (tc *testCluster) stopAll() {
	for _, n := range tc.spec.names {
		tc.stop(n)
	}
}

// killProcesses SIGKILLs a postmaster and its children.
func killProcesses(pid int, kids []int) {
	if pid == 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGKILL)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	if pid == 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		k, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; cut after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, k)
		}
	}
	return out
}

// status is member n's Status, or the zero Status while it is down.
func (tc *testCluster) status(n string) Status {
	if m := tc.members[n].m; m != nil {
		return m.Status()
	}
	return Status{}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHealthy waits until leader leads as primary and every other running
// member streams from it (in synchronous mode, one of them as the
// synchronous standby named in the sync key).
func (tc *testCluster) waitHealthy(leader string, timeout time.Duration) {
	tc.t.Helper()
	waitFor(tc.t, timeout, leader+" leading a healthy cluster", func() bool {
		st := tc.status(leader)
		if st.Leader != leader || st.Role != "primary" {
			return false
		}
		for _, n := range tc.spec.names {
			if n == leader || tc.members[n].m == nil {
				continue
			}
			ms, ok := findMember(st, n)
			if !ok || !ms.Streaming || ms.Role != "standby" {
				return false
			}
		}
		if tc.spec.asynchronous {
			return true
		}
		// The sync key is written before the leader's next record shows
		// the standby as synchronous; wait for both.
		ms, ok := findMember(st, st.SyncStandby)
		return ok && ms.Sync == "sync"
	})
}

func findMember(st Status, n string) (MemberStatus, bool) {
	for _, m := range st.Members {
		if m.Name == n {
			return m, true
		}
	}
	return MemberStatus{}, false
}

// leader returns the member that leads, per the members' statuses.
func (tc *testCluster) leader() string {
	for _, n := range tc.spec.names {
		if st := tc.status(n); st.Leader != "" && st.Role != "" {
			return st.Leader
		}
	}
	return ""
}

// addr is member n's PostgreSQL address for clients (not the proxy).
func (tc *testCluster) addr(n string) string {
	return "127.0.0.1:" + strconv.Itoa(tc.members[n].port)
}

// testLogger logs a member to the test's output, only while the test
// runs, and gives each line to also.
func testLogger(t *testing.T, name string, also func(line string)) *slog.Logger {
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) })
	level := slog.LevelInfo
	if os.Getenv("PGHA_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		line := strings.TrimRight(string(p), "\n")
		if also != nil {
			also(line)
		}
		if !done.Load() {
			t.Logf("%s", line)
		}
		return len(p), nil
	}), &slog.HandlerOptions{Level: level})).With("node", name)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (tm *testMember) String() string { return fmt.Sprintf("member %s", tm.name) }
