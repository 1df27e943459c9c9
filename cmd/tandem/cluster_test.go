package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// clusterStack is one node of a three-zone cluster: two instances of the
// test app, a cache with a disk tier (so a restarted node still holds
// what it cached before), and a job every two seconds.
const clusterStack = `
cluster: { name: e2e, node: "{{node}}", zone: "{{zone}}", data_dir: "{{dir}}/data" }
edge:
  listen: "{{edge}}"
  cache: { memory: 16MiB, disk: { size: 64MiB } }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 2
    health: { path: /healthz, interval: 300ms, timeout: 300ms, rise: 1, fall: 2 }
    restart: { min_backoff: 1s }
jobs:
  tick:
    schedule: "@every 2s"
    command: ["/bin/true"]
`

// clusterNode is one node of a test cluster and its stack file.
type clusterNode struct {
	*node
	name, zone, ip string
	sf             stackFile
	process        bool // whether it runs as a process of its own
}

// startCluster starts a node in each of zones a, b and c, on 127.0.0.1,
// .2 and .3: the first founds the cluster, the others join it with a
// token from `tandem cluster token`, as a user would. The nodes run in
// this process, but for those of the zones in killable: they run as
// processes of their own, so that the test can kill them.
func startCluster(t *testing.T, tmpl string, killable ...string) []*clusterNode {
	t.Helper()
	var nodes []*clusterNode
	var token string
	for i, zone := range []string{"a", "b", "c"} {
		ip := "127.0.0." + strconv.Itoa(i+1)
		name := "node-" + zone
		body := strings.NewReplacer("{{node}}", name, "{{zone}}", zone, "{{ip}}", ip).Replace(tmpl)
		sf := writeStackOn(t, body, ip)
		var args []string
		if token != "" {
			args = []string{"--join", token}
		}
		cn := &clusterNode{name: name, zone: zone, ip: ip, sf: sf, process: slices.Contains(killable, zone)}
		cn.start(t, args...)
		cn.waitFor(name+" serving", 60*time.Second, healthy("web", 2))
		nodes = append(nodes, cn)
		if token == "" {
			out, code := cn.run("cluster", "token", "--ttl", "10m", "--json")
			if code != 0 {
				t.Fatalf("tandem cluster token: exit %d\n%s", code, out)
			}
			var tok admin.JoinToken
			if err := json.Unmarshal([]byte(out), &tok); err != nil {
				t.Fatalf("decode the join token: %v\n%s", err, out)
			}
			token = tok.Token
		}
	}
	for _, cn := range nodes {
		cn.waitFor("3 nodes with 2 healthy instances each", 30*time.Second, clusterHealthy(3, "web", 2))
	}
	return nodes
}

// clusterHealthy reports whether the node sees nodes nodes, each with
// want healthy instances of app.
func clusterHealthy(nodes int, app string, want int) func(admin.Status) bool {
	return func(st admin.Status) bool {
		if st.Cluster == nil || !st.Cluster.Quorum || len(st.Cluster.Nodes) != nodes {
			return false
		}
		for _, n := range st.Cluster.Nodes {
			ok := false
			for _, a := range n.Apps {
				ok = ok || (a.Name == app && a.Healthy == want)
			}
			if !ok {
				return false
			}
		}
		return true
	}
}

// TestClusterFormsAcrossZones: three nodes in three zones form one
// cluster from the CLI, and `tandem status` on any of them shows all
// three with their instances.
func TestClusterFormsAcrossZones(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, clusterStack)
	for _, cn := range nodes {
		out, code := cn.run("status")
		if code != 0 {
			t.Fatalf("tandem status on %s: exit %d\n%s", cn.name, code, out)
		}
		for _, other := range nodes {
			if !strings.Contains(out, other.name) {
				t.Errorf("tandem status on %s does not show %s:\n%s", cn.name, other.name, out)
			}
		}
	}
	// A member is healthy when it answers a status call within a second:
	// on a busy machine, ask again for a while.
	var ms []admin.ClusterMember
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, code := nodes[1].run("cluster", "members", "--json")
		if code != 0 {
			t.Fatalf("tandem cluster members: exit %d\n%s", code, out)
		}
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("decode members: %v\n%s", err, out)
		}
		voting := 0
		for _, m := range ms {
			if !m.Learner && m.Healthy {
				voting++
			}
		}
		if voting == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster members = %+v; want 3 healthy voting members", ms)
		}
	}
}

// run runs a tandem command (with its subcommands) against this node's
// admin API, with its root token.
func (cn *clusterNode) run(args ...string) (string, int) {
	cn.t.Helper()
	return cn.tandem(args...)
}

// zoneCount counts the answers of a load by the zone that gave them.
type zoneCount struct {
	mu sync.Mutex // guards n
	n  map[string]int
}

func (z *zoneCount) add(zone string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.n == nil {
		z.n = map[string]int{}
	}
	z.n[zone]++
}

func (z *zoneCount) get(zone string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.n[zone]
}

func (z *zoneCount) snapshot() map[string]int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return maps.Clone(z.n)
}

// start runs `tandem up` for the node, in this process or not.
func (cn *clusterNode) start(t *testing.T, args ...string) {
	t.Helper()
	if cn.process {
		cn.node = startProcess(t, cn.sf, args...)
	} else {
		cn.node = startStack(t, cn.sf, args...)
	}
}

// restart starts the node again on its stack file, after it was killed.
func (cn *clusterNode) restart(t *testing.T) {
	t.Helper()
	cn.start(t)
}

// kill SIGKILLs the node's tandem process (its instances die with it:
// they have a parent-death signal) and waits until it is gone.
func (cn *clusterNode) kill(t *testing.T) {
	t.Helper()
	cn.signal(syscall.SIGKILL)
	cn.wait(10 * time.Second)
}

// getZone returns a request that GETs url, wants a 200 and counts the
// zone that answered.
func getZone(url string, zones *zoneCount) request {
	g := getHeader(url, "X-Zone")
	return func(ctx context.Context, c *http.Client) (string, error) {
		zone, err := g(ctx, c)
		if err == nil {
			zones.add(zone)
		}
		return zone, err
	}
}

// TestClusterSurvivesZoneAndNodeLoss: under continuous load at node A's
// edge, SIGKILL of every app instance in zone a fails no request (they
// spill to zones b and c); SIGKILL of node B fails none at A or C; B,
// restarted, rejoins and serves again.
func TestClusterSurvivesZoneAndNodeLoss(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterStack, "b")
	a, b, c := nodes[0], nodes[1], nodes[2]

	var zonesA zoneCount
	l := startLoad(t, map[string]request{
		"a1": getZone("http://"+a.edge+"/", &zonesA),
		"a2": getZone("http://"+a.edge+"/", &zonesA),
		"c":  get("http://" + c.edge + "/"),
	}, 5*time.Millisecond)
	l.waitServed(t, 100, 30*time.Second, "a1", "a2", "c")
	if zonesA.get("a") == 0 {
		t.Fatalf("before any failure, node A's edge served no request from zone a: %v", zonesA.snapshot())
	}
	before := zonesA.snapshot()

	// Zone a's instances die.
	st, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	killed := map[int]bool{}
	for _, in := range st.Apps[0].Instances {
		if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s: %v", in.Name, err)
		}
		killed[in.PID] = true
	}
	a.waitFor("zone a's instances back", 30*time.Second, func(st admin.Status) bool {
		for _, in := range st.Apps[0].Instances {
			if killed[in.PID] {
				return false
			}
		}
		return healthy("web", 2)(st)
	})
	after := zonesA.snapshot()
	if after["b"]+after["c"] <= before["b"]+before["c"] {
		t.Errorf("with zone a's instances dead, no request went to zones b or c: before %v, after %v", before, after)
	}

	// Node B dies whole.
	b.kill(t)
	l.waitServed(t, 100, 30*time.Second, "a1", "a2", "c")
	a.waitFor("node B gone from A's view", 30*time.Second, func(st admin.Status) bool {
		return st.Cluster != nil && len(st.Cluster.Nodes) == 2
	})

	// B comes back with its data directory and is used again.
	b.restart(t)
	for _, cn := range nodes {
		cn.waitFor("node B back with 2 healthy instances", 60*time.Second, clusterHealthy(3, "web", 2))
	}
	l.waitServed(t, 100, 30*time.Second, "a1", "a2", "c")
	l.stop()
	for _, kind := range []string{"a1", "a2", "c"} {
		ok, failed := l.counts(kind)
		if len(failed) > 0 {
			t.Errorf("load %s: %d ok, %d failed; first failures: %q", kind, ok, len(failed), failed[:min(5, len(failed))])
		}
		if ok < 100 {
			t.Errorf("load %s: only %d requests succeeded", kind, ok)
		}
	}
	resp, err := http.Get("http://" + b.edge + "/")
	if err != nil {
		t.Fatalf("GET node B after restart: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Zone") != "b" {
		t.Errorf("GET node B after restart: %d from zone %q; want 200 from zone b", resp.StatusCode, resp.Header.Get("X-Zone"))
	}
}

// TestClusterQuorumLoss: with two of three etcd members killed the
// survivor keeps serving proxied and cached traffic, and its status says
// the control plane is unavailable.
func TestClusterQuorumLoss(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterStack, "b", "c")
	a := nodes[0]
	cached := "http://" + a.edge + "/cacheable/q?tag=q"
	getCached(t, http.DefaultClient, cached)
	l := startLoad(t, map[string]request{
		"proxied": get("http://" + a.edge + "/"),
		"cached":  get(cached),
	}, 5*time.Millisecond)
	nodes[1].kill(t)
	nodes[2].kill(t)
	// A's own instances stay healthy (on a busy machine a health check
	// may miss its 200ms once: the status is asked again).
	st := a.waitFor("control plane unavailable, A's instances healthy", 30*time.Second, func(st admin.Status) bool {
		return st.Cluster != nil && !st.Cluster.Quorum && healthy("web", 2)(st)
	})
	l.waitServed(t, 100, 30*time.Second, "proxied", "cached")
	l.stop()
	for _, kind := range []string{"proxied", "cached"} {
		ok, failed := l.counts(kind)
		if len(failed) > 0 || ok < 100 {
			t.Errorf("load %s with no quorum: %d ok, %d failed %q", kind, ok, len(failed), failed[:min(5, len(failed))])
		}
	}
	out, _ := a.run("status")
	if !strings.Contains(out, "UNAVAILABLE") {
		t.Errorf("tandem status without quorum does not say the control plane is unavailable:\n%s", out)
	}
	if st.Apps[0].Healthy != 2 {
		t.Errorf("node A's own instances: %d healthy; want 2", st.Apps[0].Healthy)
	}
}

// TestClusterPurgeFanOut: a purge sent to node A is applied on B and C;
// a node that was down while a purge was sent never serves the purged
// object afterwards, even from its disk cache.
func TestClusterPurgeFanOut(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterStack, "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	url := func(cn *clusterNode, path string) string { return "http://" + cn.edge + path }

	// Every node caches /cacheable/p (tag p) and /cacheable/q (tag q).
	// Whether an answer came from the cache is read from Cache-Status:
	// the test app's bodies repeat once its instances restart.
	for _, cn := range nodes {
		for _, p := range []string{"/cacheable/p?tag=p", "/cacheable/q?tag=q"} {
			getCached(t, http.DefaultClient, url(cn, p))
			if _, st := getCached(t, http.DefaultClient, url(cn, p)); !isHit(st) {
				t.Fatalf("%s %s not cached: Cache-Status %q", cn.name, p, st)
			}
		}
	}

	// Purge tag p at A, waiting for every node.
	if out, code := a.run("purge", "--tag", "p", "--wait"); code != 0 {
		t.Fatalf("tandem purge --tag p --wait: exit %d\n%s", code, out)
	}
	for _, cn := range nodes {
		if body, st := getCached(t, http.DefaultClient, url(cn, "/cacheable/p?tag=p")); isHit(st) {
			t.Errorf("%s still serves the purged object: %q (Cache-Status %q)", cn.name, body, st)
		}
		if body, st := getCached(t, http.DefaultClient, url(cn, "/cacheable/q?tag=q")); !isHit(st) {
			t.Errorf("%s lost an object that was not purged: %q (Cache-Status %q)", cn.name, body, st)
		}
	}

	// C is down while q is purged through B's edge; back up, it fetches q
	// again instead of serving the copy on its disk. A response goes to
	// the disk tier just after its client got it: C is killed only once
	// both p (fetched again above) and q are there.
	waitMetric(t, c.node, `tandem_cache_objects{tier="disk"}`, 2, 10*time.Second)
	c.kill(t)
	req, _ := http.NewRequest("PURGE", url(b, "/"), nil)
	req.Header.Set("Surrogate-Key", "q")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PURGE tag q at B: status %d", resp.StatusCode)
	}
	c.restart(t)
	c.waitFor("node C back", 60*time.Second, healthy("web", 2))
	if body, st := getCached(t, http.DefaultClient, url(c, "/cacheable/q?tag=q")); isHit(st) {
		t.Errorf("node C, down during the purge, served the purged object after restarting: %q (Cache-Status %q)", body, st)
	}
	// The disk tier did keep what was not purged: p, fetched again after
	// its purge, is still a hit at C.
	if body, st := getCached(t, http.DefaultClient, url(c, "/cacheable/p?tag=p")); !isHit(st) {
		t.Errorf("node C lost its disk cache on restart: %q (Cache-Status %q)", body, st)
	}
}

// TestClusterCronOnce: a job every two seconds runs once per firing
// across the three nodes.
func TestClusterCronOnce(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterStack)
	start := time.Now()
	time.Sleep(20 * time.Second)
	seen := map[int64]string{}
	total := 0
	var notRun []string // firings not run, for the failure message
	for _, cn := range nodes {
		out, code := cn.run("jobs", "tick", "--json")
		if code != 0 {
			t.Fatalf("tandem jobs tick on %s: exit %d\n%s", cn.name, code, out)
		}
		var j admin.JobStatus
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("decode: %v\n%s", err, out)
		}
		for _, r := range j.History {
			if r.Trigger != "schedule" || r.Scheduled.Before(start) {
				continue
			}
			if r.Result == "missed" || r.Result == "skipped" {
				notRun = append(notRun, fmt.Sprintf("%s %s on %s: %s", r.Scheduled.Format(time.TimeOnly), r.Result, cn.name, r.Error))
				continue
			}
			at := r.Scheduled.Unix()
			if other, dup := seen[at]; dup {
				t.Errorf("firing at %s ran on %s and on %s", r.Scheduled.Format(time.TimeOnly), other, cn.name)
			}
			seen[at] = cn.name
			total++
		}
	}
	// 20 s of @every 2s is 10 firings; allow for the edges of the window.
	if total < 8 || total > 11 {
		t.Errorf("%d runs in 20s of an @every 2s job across 3 nodes; want about 10 (one per firing); not run: %q", total, notRun)
	}
}
