package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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

// sitesStack is a node of the sites test: the wiki, critical, on
// PostgreSQL whose members are home-1, home-2 (the leader site) and
// cloud-1 (the follower site); the follower site runs no instance until
// an emergency. /upload and /files/ are not critical. Every node answers
// DNS for sites.test and serves the health proxy, whose origins are
// home-1's and cloud-1's edges ({{home_ip}}, {{cloud_ip}}: labStack).
const sitesStack = `
cluster: { name: sites, node: "{{node}}", zone: "{{zone}}", site: "{{site}}", data_dir: "{{dir}}/data", advertise: "{{ip}}" }
edge:
  listen: "{{ip}}:8080"
  cache: { memory: 32MiB }
  purge: { allow: ["127.0.0.0/8", "10.0.0.0/8"] } # the wiki purges through the edge's address
  routes:
    - { path: /, app: web }
    - { path: /upload, app: web, critical: false }
    - { path: /files/, app: web, critical: false }
admin: { listen: "{{ip}}:7070", tls: { cert: "{{cert}}", key: "{{key}}" } }
alerts: { webhook: { url: "{{hook}}" } }
sites:
  leader: home
  emergency_after: 5s
  dns: { zone: sites.test, names: [www.sites.test], ns: [{ name: ns.example.org }], listen: "{{ip}}:5353", ttl: 1s }
  health_proxy: { origins: { home: "http://{{home_ip}}:8080", cloud: "http://{{cloud_ip}}:8080" }, probe_timeout: 1s }
database:
  postgres:
    members: [home-1, home-2, cloud-1]
    endpoint: { hold: 10s }
    read_endpoint: { listen: "off" }
apps:
  web:
    command: ["{{wiki}}", "serve"]
    release: ["{{wiki}}", "migrate"]
    instances: 1
    critical: true
    sites: { cloud: { instances: 0, emergency_instances: 1 } }
    health: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 3, startup: 60s }
    retries: { hedge: false }
`

// witnessStack is the witness: an etcd member in a third place, which
// answers DNS too.
const witnessStack = `
cluster: { name: sites, node: "{{node}}", zone: "{{zone}}", site: "{{site}}", data_dir: "{{dir}}/data", advertise: "{{ip}}", witness: true }
admin: { listen: "{{ip}}:7070", tls: { cert: "{{cert}}", key: "{{key}}" } }
alerts: { webhook: { url: "{{hook}}" } }
sites:
  leader: home
  emergency_after: 5s
  dns: { zone: sites.test, names: [www.sites.test], ns: [{ name: ns.example.org }], listen: "{{ip}}:5353", ttl: 1s }
`

// labStack fills the lab's addresses into a stack template: home-1's and
// cloud-1's, the health proxy's origins.
func labStack(lab *netLab, tmpl string) string {
	return strings.NewReplacer("{{home_ip}}", lab.nodeIP(labHome, 1), "{{cloud_ip}}", lab.nodeIP(labCloud, 1)).Replace(tmpl)
}

// siteNode is a node of the sites test: a tandem process in its own
// network namespace.
type siteNode struct {
	t          *testing.T
	name, site string
	lab        labNode
	stack      string
	caFile     string
	tokenFile  string
	out        *syncBuffer
	proc       *os.Process
	done       chan struct{}
	api        *admin.Client
}

// startSiteNode writes name's stack file from tmpl and runs `tandem up`
// on it in the node's namespace, joining with token if not "".
func startSiteNode(t *testing.T, lab labNode, ca *testCA, hook, name, site, tmpl, token string) *siteNode {
	t.Helper()
	dir := traversable(t, t.TempDir())
	cert, key := ca.issue(t, dir, lab.ip)
	body := strings.NewReplacer("{{node}}", name, "{{zone}}", name, "{{site}}", site, "{{dir}}", dir, "{{ip}}", lab.ip,
		"{{cert}}", cert, "{{key}}", key, "{{hook}}", hook).Replace(tmpl)
	if strings.Contains(body, "{{wiki}}") {
		body = strings.ReplaceAll(body, "{{wiki}}", wiki(t))
	}
	n := &siteNode{t: t, name: name, site: site, lab: lab, stack: filepath.Join(dir, "stack.yaml"), caFile: ca.file,
		out: new(syncBuffer), done: make(chan struct{})}
	if err := os.WriteFile(n.stack, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := config.Load(n.stack)
	if err != nil {
		t.Fatalf("stack file of %s: %v", name, err)
	}
	n.tokenFile = tandemnode.RootTokenFile(st)
	args := []string{"--net=/run/netns/" + lab.ns, "--", tandemBin, "up", "-f", n.stack}
	if token != "" {
		args = append(args, "--join", token)
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), programEnv+"=tandem") // its keeper is this binary too
	cmd.Stdout, cmd.Stderr = n.out, n.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startOnForkThread(cmd); err != nil {
		t.Fatal(err)
	}
	n.proc = cmd.Process
	go func() {
		defer close(n.done)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-n.done
		if dir := os.Getenv("TANDEM_SITES_LOGS"); dir != "" { // keep every node's whole log, to look into a run
			os.WriteFile(filepath.Join(dir, name+".log"), []byte(n.out.String()), 0o644)
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, tail(n.out.String(), 40))
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if tok, err := os.ReadFile(n.tokenFile); err == nil {
			n.api = admin.NewClientWith("https://"+lab.ip+":7070", admin.ClientOptions{Token: strings.TrimSpace(string(tok)), RootCAs: ca.pool})
			return n
		}
		select {
		case <-n.done:
			t.Fatalf("%s exited while starting:\n%s", name, tail(n.out.String(), 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no root token within 2m:\n%s", name, tail(n.out.String(), 40))
		}
	}
}

// edge is the node's edge address.
func (n *siteNode) edge() string { return n.lab.ip + ":8080" }

// dns is the node's DNS responder's address.
func (n *siteNode) dns() string { return n.lab.ip + ":5353" }

// cli runs `tandem ARGS...` against the node's admin API with its root
// token, as a user would.
func (n *siteNode) cli(args ...string) (string, int) {
	n.t.Helper()
	return runCLI(n.t, append(args, "-f", n.stack, "--tls-ca", n.caFile)...)
}

// waitStatus polls the node's status until cond holds.
func (n *siteNode) waitStatus(what string, timeout time.Duration, cond func(admin.Status) bool) admin.Status {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	var last admin.Status
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := n.api.Status(ctx)
		cancel()
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(200 * time.Millisecond)
	}
	n.t.Fatalf("%s: timed out after %s waiting for %s; last sites %+v database %+v (err %v)", n.name, timeout, what, last.Sites, last.Database, lastErr)
	return last
}

// timedWriter saves wiki pages through an edge: a new page every
// interval, each save (the edit form, then the post) in a goroutine of
// its own with a client's timeout, so that a save stuck on a dead link
// does not hold up the next ones, as a user retrying would not wait. It
// records when each save was sent and answered.
type timedWriter struct {
	w        *wikiWriter
	prefix   string
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	inflight sync.WaitGroup

	mu    sync.Mutex // guards saves
	saves []timedSave
}

type timedSave struct {
	title, text string
	sent, done  time.Time
	err         error
}

// saveTimeout is a writer's client timeout for one save.
const saveTimeout = 5 * time.Second

// startTimedWriter logs in through edge and saves a page every 100ms.
func startTimedWriter(t *testing.T, edge, prefix string) *timedWriter {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := &wikiWriter{t: t, base: "http://" + edge, c: &http.Client{Jar: jar, Timeout: saveTimeout}}
	resp, err := w.c.PostForm(w.base+"/login", url.Values{"username": {prefix}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tw := &timedWriter{w: w, prefix: prefix, interval: 100 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{})}
	go tw.run()
	t.Cleanup(tw.finish)
	return tw
}

func (tw *timedWriter) run() {
	defer close(tw.done)
	defer tw.inflight.Wait()
	tick := time.NewTicker(tw.interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-tw.stop:
			return
		case <-tick.C:
		}
		s := timedSave{title: fmt.Sprintf("%s-%d", tw.prefix, i), sent: time.Now()}
		s.text = fmt.Sprintf("%s save %d", tw.prefix, i)
		tw.inflight.Go(func() {
			s.err = tw.w.save(s.title, s.text)
			s.done = time.Now()
			tw.mu.Lock()
			tw.saves = append(tw.saves, s)
			tw.mu.Unlock()
		})
	}
}

// finish stops the writer and waits for its saves; it may be called
// again.
func (tw *timedWriter) finish() {
	select {
	case <-tw.stop:
	default:
		close(tw.stop)
	}
	<-tw.done
}

// snapshot returns the saves answered so far, in the order they were
// sent.
func (tw *timedWriter) snapshot() []timedSave {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	out := append([]timedSave(nil), tw.saves...)
	slices.SortFunc(out, func(a, b timedSave) int { return a.sent.Compare(b.sent) })
	return out
}

// acked returns the acknowledged saves.
func (tw *timedWriter) acked() []timedSave {
	var out []timedSave
	for _, s := range tw.snapshot() {
		if s.err == nil {
			out = append(out, s)
		}
	}
	return out
}

// firstAckAfter waits for the first save sent after t to be acknowledged.
func (tw *timedWriter) firstAckAfter(t *testing.T, after time.Time, timeout time.Duration) timedSave {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, s := range tw.acked() {
			if s.sent.After(after) {
				return s
			}
		}
		if time.Now().After(deadline) {
			saves := tw.snapshot()
			t.Fatalf("%s: no save acknowledged within %s of %s; last: %+v", tw.prefix, timeout, after.Format("15:04:05.000"), saves[max(0, len(saves)-3):])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAcked waits until n saves were acknowledged.
func (tw *timedWriter) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(tw.acked()) < n {
		if time.Now().After(deadline) {
			saves := tw.snapshot()
			t.Fatalf("%s: %d saves acknowledged within %s; want %d; last: %+v", tw.prefix, len(tw.acked()), timeout, n, saves[max(0, len(saves)-3):])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missing returns the acknowledged saves (of those that pass keep) that
// are not in their page's history, read through edge.
func (tw *timedWriter) missing(t *testing.T, edge string, keep func(timedSave) bool) []timedSave {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	r := &wikiWriter{t: t, base: "http://" + edge, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	histories := map[string]string{}
	var out []timedSave
	for _, s := range tw.acked() {
		if !keep(s) {
			continue
		}
		h, ok := histories[s.title]
		if !ok {
			var err error
			if h, err = r.get("/wiki/" + s.title + "/history"); err != nil {
				t.Fatalf("history of %s: %v", s.title, err)
			}
			histories[s.title] = h
		}
		if !strings.Contains(h, "<td>"+s.text+"</td>") {
			out = append(out, s)
		}
	}
	return out
}

// longestGap is the longest time between consecutive acknowledgements
// from from to to.
func longestGap(saves []timedSave, from, to time.Time) time.Duration {
	saves = slices.Clone(saves)
	slices.SortFunc(saves, func(a, b timedSave) int { return a.done.Compare(b.done) })
	var gap time.Duration
	var prev time.Time
	for _, s := range saves {
		if s.err != nil || s.done.Before(from) || s.done.After(to) {
			continue
		}
		if !prev.IsZero() && s.done.Sub(prev) > gap {
			gap = s.done.Sub(prev)
		}
		prev = s.done
	}
	return gap
}

// reader reads cached wiki pages anonymously through an edge and counts
// every answer.
type reader struct {
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex // guards the fields below
	ok       int
	cacheHit int
	failures []string
}

func startReader(t *testing.T, edge string, titles []string) *reader {
	r := &reader{stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		for i := 0; ; i++ {
			select {
			case <-r.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := c.Get("http://" + edge + "/wiki/" + titles[i%len(titles)])
			var status int
			var cs string
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status, cs = resp.StatusCode, resp.Header.Get("Cache-Status")
			}
			r.mu.Lock()
			switch {
			case err != nil:
				r.failures = append(r.failures, err.Error())
			case status != http.StatusOK:
				r.failures = append(r.failures, fmt.Sprintf("HTTP %d (%s)", status, cs))
			default:
				r.ok++
				if strings.Contains(cs, "hit") || strings.Contains(cs, "stale") {
					r.cacheHit++
				}
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.finish)
	return r
}

func (r *reader) finish() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *reader) counts() (ok, hits int, failures []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok, r.cacheHit, append([]string(nil), r.failures...)
}

// alertHook receives the nodes' alerts.
type alertHook struct {
	mu     sync.Mutex
	bodies []string
}

func (h *alertHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

// find returns the first alert that contains every one of words.
func (h *alertHook) find(words ...string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		all := true
		for _, w := range words {
			all = all && strings.Contains(b, w)
		}
		if all {
			return b, true
		}
	}
	return "", false
}

// usage is a process tree's CPU time and resident memory.
type usage struct {
	cpu time.Duration
	rss int64 // bytes
}

// treeUsage sums the usage of pid and its descendants.
func treeUsage(pid int) usage {
	var u usage
	for _, p := range append([]int{pid}, descendants(pid)...) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil {
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i >= 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 13 {
					ut, _ := strconv.ParseInt(f[11], 10, 64)
					st, _ := strconv.ParseInt(f[12], 10, 64)
					u.cpu += time.Duration(ut+st) * time.Second / 100 // USER_HZ
				}
			}
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
					u.rss += kb << 10
				}
			}
		}
	}
	return u
}

// descendants lists pid's descendants.
func descendants(pid int) []int {
	var out []int
	for _, k := range childrenOf(pid) {
		out = append(out, k)
		out = append(out, descendants(k)...)
	}
	return out
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
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
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, k)
		}
	}
	return out
}
