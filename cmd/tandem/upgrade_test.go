package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// The nodes of these tests are processes: an upgrade execs the new binary
// in the node's process, which would replace the test binary, and needs
// the supervisor's keeper, which a node runs only as a process of its
// own. The new binary is this test binary linked as tandem-v2 (see
// TestMain), which reports upgradeVersion.

// upgradeVersion is the version tandem-v2 reports.
const upgradeVersion = "v2-upgrade-test"

const upgradeStack = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  timeouts: { shutdown: 10s, upstream: 5s }
  cache: { memory: 0 } # every request reaches an instance
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 3
    # A busy machine (-race, tests in parallel) makes a short check miss:
    # a flap would fail requests that have nothing to do with the upgrade.
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 2, fall: 3 }
    restart: { min_backoff: 50ms, max_backoff: 1s }
    stop: { grace: 5s }
`

// startUpgradable starts a node of upgradeStack as a process and waits
// for its instances; it returns the node and its instances' pids.
func startUpgradable(t *testing.T) (*node, admin.Status) {
	t.Helper()
	n := startProcess(t, writeStack(t, upgradeStack))
	return n, n.waitFor("3 healthy instances", 30*time.Second, healthy("web", 3))
}

// edgeLoad sends GETs of / (gets workers) and POSTs to /echo (posts
// workers) through edge, each worker at most every interval; it returns
// the load and its kinds of request.
func edgeLoad(t *testing.T, edge string, gets, posts int, interval time.Duration) (*load, []string) {
	reqs := map[string]request{}
	for i := range gets {
		reqs[fmt.Sprintf("get-%d", i)] = get("http://" + edge + "/")
	}
	for i := range posts {
		reqs[fmt.Sprintf("post-%d", i)] = post("http://" + edge + "/echo")
	}
	kinds := make([]string, 0, len(reqs))
	for k := range reqs {
		kinds = append(kinds, k)
	}
	return startLoad(t, reqs, interval), kinds
}

// noneFailed stops l and fails the test if any of its requests failed or
// fewer than least succeeded, in all.
func noneFailed(t *testing.T, l *load, kinds []string, least int, during string) {
	t.Helper()
	l.stop()
	ok, failed := 0, []string(nil)
	for _, k := range kinds {
		o, f := l.counts(k)
		ok, failed = ok+o, append(failed, f...)
	}
	t.Logf("requests %s: %d succeeded, %d failed", during, ok, len(failed))
	if len(failed) > 0 {
		t.Errorf("%d requests failed %s; want none; first: %q", len(failed), during, failed[:min(5, len(failed))])
	}
	if ok < least {
		t.Errorf("%d requests succeeded %s; want at least %d: the load did not run", ok, during, least)
	}
}

// instancePIDs returns each instance of app by name, with its pid.
func instancePIDs(st admin.Status, app string) map[string]int {
	pids := map[string]int{}
	for _, a := range st.Apps {
		if a.Name == app {
			for _, in := range a.Instances {
				pids[in.Name] = in.PID
			}
		}
	}
	return pids
}

// samePIDs fails the test unless the instances and their processes are
// those of before.
func samePIDs(t *testing.T, before, after map[string]int) {
	t.Helper()
	if len(after) != len(before) {
		t.Errorf("instances after: %v; want %v", after, before)
	}
	for name, pid := range before {
		if after[name] != pid {
			t.Errorf("instance %s: pid %d after, %d before; want it kept", name, after[name], pid)
		}
	}
}

// commandOf returns the program process pid runs, as named when it was
// executed; "" if pid is gone.
func commandOf(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return argv0
}

// restartedBy waits until the node has started instance name of web
// again after its process killed was SIGKILLed: the binary running the
// node supervises it.
func restartedBy(n *node, name string, killed int, who string) {
	n.t.Helper()
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	n.waitFor(name+" restarted by "+who, 15*time.Second, func(s admin.Status) bool {
		in := instanceOf(s, "web", name)
		return in.PID != killed && in.PID != 0 && in.Health == "healthy"
	})
}

// TestUpgradeUnderLoad upgrades a node's tandem binary in place while
// clients send GETs and POSTs through its edge: no request fails, the node
// keeps its pid and its instances their processes, status reports the new
// version, and the new binary supervises the instances and keeps them in
// check (the keeper handed over still kills them when tandem dies).
func TestUpgradeUnderLoad(t *testing.T) {
	t.Parallel()
	n, st := startUpgradable(t)
	before := instancePIDs(st, "web")
	startedAt := st.StartedAt
	pid := n.proc.Pid
	if argv0 := commandOf(pid); argv0 != tandemBin {
		t.Fatalf("tandem's process %d runs %q; want %s", pid, argv0, tandemBin)
	}

	l, kinds := edgeLoad(t, n.edge, 6, 2, 2*time.Millisecond)
	l.waitServed(t, 20, 30*time.Second, kinds...)
	out, code := n.cli("upgrade", "--binary", tandemV2Bin, "--drain", "5s")
	if code != 0 || !strings.Contains(out, "node runs "+upgradeVersion) {
		t.Fatalf("tandem upgrade: exit %d\n%s", code, out)
	}
	t.Logf("tandem upgrade:\n%s", out)
	l.waitServed(t, 20, 30*time.Second, kinds...) // by the new binary
	noneFailed(t, l, kinds, 300, "through the upgrade")

	select {
	case <-n.done:
		t.Fatalf("tandem exited during the upgrade: code %d", n.code)
	default:
	}
	st = n.waitFor("the new version", 10*time.Second, func(s admin.Status) bool { return s.Version == upgradeVersion })
	if !st.StartedAt.After(startedAt) || st.Upgrade == nil || st.Upgrade.Result != admin.UpgradeSucceeded || st.Upgrade.From != "dev" {
		t.Errorf("status after the upgrade: started %v (before %v), upgrade %+v; want a later start and a succeeded upgrade from dev",
			st.StartedAt, startedAt, st.Upgrade)
	}
	if argv0 := commandOf(pid); argv0 != tandemV2Bin {
		t.Errorf("tandem's process %d runs %q after the upgrade; want %s in the same process", pid, argv0, tandemV2Bin)
	}
	samePIDs(t, before, instancePIDs(st, "web"))
	if out, code := n.cli("status"); code != 0 || !strings.Contains(out, "version "+upgradeVersion) || !strings.Contains(out, "3/3 healthy") {
		t.Errorf("tandem status after the upgrade: exit %d\n%s", code, out)
	}

	// The new binary supervises them: a killed instance is started again.
	restartedBy(n, "web-1", before["web-1"], "the new binary")
	// And the keeper it took over still kills every instance with tandem.
	st, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for name, pid := range instancePIDs(st, "web") {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("instance %s (pid %d) outlived the upgraded tandem's SIGKILL", name, pid)
		}
	}
}

// TestUpgradeRefused: a binary that is missing, exits at once, or is not a
// tandem that speaks this node's handover format or accepts its stack
// file is refused before anything stops, and so is any binary while an
// app is paused; the node serves on, instances untouched.
func TestUpgradeRefused(t *testing.T) {
	t.Parallel()
	n, st := startUpgradable(t)
	before := instancePIDs(st, "web")
	dir := t.TempDir()
	exitsAtOnce := filepath.Join(dir, "exits")
	oldFormat := filepath.Join(dir, "old-format")
	writeScript(t, exitsAtOnce, "#!/bin/sh\necho 'cannot execute: bad ELF' >&2\nexit 126\n")
	writeScript(t, oldFormat, "#!/bin/sh\n"+`echo '{"version":"v0.9","handover":0}'`+"\n")
	strict := filepath.Join(dir, "strict")
	writeScript(t, strict, `#!/bin/sh
case "$1" in
version) echo '{"version":"v3","handover":1}' ;;
validate) echo 'apps.web.instances: must be at most 2' >&2; exit 2 ;;
esac
`)

	l, kinds := edgeLoad(t, n.edge, 4, 1, 5*time.Millisecond)
	for _, tc := range []struct{ binary, want string }{
		{filepath.Join(dir, "missing"), "cannot be run here"},
		{exitsAtOnce, "cannot execute: bad ELF"},
		{oldFormat, "reads handover format 0"},
		{"/bin/true", "not a tandem binary"},
		{strict, "refuses the stack file"},
	} {
		out, code := n.cli("upgrade", "--binary", tc.binary)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("tandem upgrade --binary %s: exit %d\n%s\nwant a failure saying %q", tc.binary, code, out, tc.want)
		}
	}
	l.waitServed(t, 10, 30*time.Second, kinds...)
	noneFailed(t, l, kinds, 50, "while upgrades were refused")
	st = n.waitFor("3 healthy instances", 10*time.Second, healthy("web", 3))
	if st.Version != "dev" || st.Upgrade != nil {
		t.Errorf("status: version %s, upgrade %+v; want dev and no upgrade", st.Version, st.Upgrade)
	}
	samePIDs(t, before, instancePIDs(st, "web"))

	// Nothing is cut: not while an app is paused.
	if out, code := n.cli("pause", "web", "--hold", "5s"); code != 0 {
		t.Fatalf("tandem pause: exit %d\n%s", code, out)
	}
	if out, code := n.cli("upgrade", "--binary", tandemV2Bin); code == 0 || !strings.Contains(out, "paused") {
		t.Errorf("tandem upgrade of a node with a paused app: exit %d\n%s\nwant a refusal saying so", code, out)
	}
	if out, code := n.cli("resume", "web"); code != 0 {
		t.Fatalf("tandem resume: exit %d\n%s", code, out)
	}
	if st, err := n.status(); err != nil || st.Version != "dev" || st.Upgrade != nil {
		t.Errorf("status after the refusal while paused: version %s, upgrade %+v (err %v); want dev and no upgrade", st.Version, st.Upgrade, err)
	}
}

// TestUpgradeExecFails: when the new binary cannot be executed after all
// (here it removes itself while it is checked, as a package manager
// replacing it might), the process takes the node over again, instances
// untouched and no request failed; tandem upgrade fails saying why, and
// the process supervises the instances still.
func TestUpgradeExecFails(t *testing.T) {
	t.Parallel()
	vanishing := filepath.Join(t.TempDir(), "tandem-vanishing")
	writeScript(t, vanishing, fmt.Sprintf(`#!/bin/sh
case "$1" in
version) exec %[1]s "$@" ;;
validate) rm -f "$0"; exec %[1]s "$@" ;;
esac
`, tandemV2Bin))
	n, before := failedUpgrade(t, vanishing, "exec "+vanishing, "no such file")
	restartedBy(n, "web-2", before["web-2"], "the process that took the node over again")
}

// TestUpgradeFallsBack: a new binary that passes the checks but cannot
// take the node over (here: its stack file does not load) execs the old
// binary back, which takes the node over as it was: no request fails, the
// instances keep their processes, and tandem upgrade fails saying why.
func TestUpgradeFallsBack(t *testing.T) {
	t.Parallel()
	broken := filepath.Join(t.TempDir(), "tandem-broken")
	writeScript(t, broken, fmt.Sprintf(`#!/bin/sh
case "$1" in
version|validate) exec %[1]s "$@" ;;
esac
exec %[1]s up -f /nonexistent/stack.yaml
`, tandemV2Bin))
	n, before := failedUpgrade(t, broken, "could not take the node over", "/nonexistent/stack.yaml")
	restartedBy(n, "web-3", before["web-3"], "the old binary, back")
}

// failedUpgrade starts a node, upgrades it to binary under load, and
// checks what an upgrade that fails once under way must leave: the
// command fails saying each of want, no request failed, the node runs its
// old version with the instances of before, and status says the upgrade
// failed. It returns the node and its instances' pids.
func failedUpgrade(t *testing.T, binary string, want ...string) (*node, map[string]int) {
	t.Helper()
	n, st := startUpgradable(t)
	before := instancePIDs(st, "web")

	l, kinds := edgeLoad(t, n.edge, 6, 2, 2*time.Millisecond)
	l.waitServed(t, 20, 30*time.Second, kinds...)
	out, code := n.cli("upgrade", "--binary", binary)
	t.Logf("tandem upgrade:\n%s", out)
	for _, w := range want {
		if code == 0 || !strings.Contains(out, w) {
			t.Errorf("tandem upgrade --binary %s: exit %d; want a failure saying %q", binary, code, w)
		}
	}
	if strings.Contains(out, "failed after -") {
		t.Errorf("tandem upgrade reports a negative duration:\n%s", out)
	}
	l.waitServed(t, 20, 30*time.Second, kinds...) // by the node taken over again
	noneFailed(t, l, kinds, 300, "through the failed upgrade")
	st = n.waitFor("3 healthy instances", 10*time.Second, healthy("web", 3))
	if st.Version != "dev" || st.Upgrade == nil || st.Upgrade.Result != admin.UpgradeFailed {
		t.Errorf("status after the failed upgrade: version %s, upgrade %+v; want dev, a failed upgrade", st.Version, st.Upgrade)
	}
	samePIDs(t, before, instancePIDs(st, "web"))
	return n, before
}

// clusterUpgradeStack is a node of a three-zone cluster without jobs (a
// job running refuses an upgrade).
const clusterUpgradeStack = `
cluster: { name: e2e, node: "{{node}}", zone: "{{zone}}", data_dir: "{{dir}}/data" }
edge:
  listen: "{{edge}}"
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 2
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1, fall: 3 } # as upgradeStack's
`

// TestUpgradeInCluster upgrades one node of a three-zone cluster under
// load at its edge and another node's: no request fails, its etcd member
// comes back (the cluster keeps its quorum and three members), and every
// node sees its new version. Node A, the one upgraded, is a process.
func TestUpgradeInCluster(t *testing.T) {
	t.Parallel()
	slow(t)
	nodes := startCluster(t, clusterUpgradeStack, "a")
	a, b := nodes[0], nodes[1]
	st, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	before := instancePIDs(st, "web")

	la, kindsA := edgeLoad(t, a.edge, 4, 1, 2*time.Millisecond)
	lb, kindsB := edgeLoad(t, b.edge, 4, 1, 2*time.Millisecond)
	la.waitServed(t, 20, 30*time.Second, kindsA...)
	lb.waitServed(t, 20, 30*time.Second, kindsB...)
	out, code := a.run("upgrade", "--binary", tandemV2Bin)
	if code != 0 {
		t.Fatalf("tandem upgrade of %s: exit %d\n%s", a.name, code, out)
	}
	t.Logf("tandem upgrade:\n%s", out)
	la.waitServed(t, 20, 30*time.Second, kindsA...)
	lb.waitServed(t, 20, 30*time.Second, kindsB...)
	noneFailed(t, la, kindsA, 150, "at "+a.name+" through its upgrade")
	noneFailed(t, lb, kindsB, 150, "at "+b.name+" through the upgrade of "+a.name)

	for _, cn := range nodes {
		cn.waitFor(a.name+" at the new version in "+cn.name+"'s view", 20*time.Second, func(s admin.Status) bool {
			if !clusterHealthy(3, "web", 2)(s) {
				return false
			}
			for _, ns := range s.Cluster.Nodes {
				if ns.Name == a.name {
					return ns.Version == upgradeVersion
				}
			}
			return false
		})
	}
	if st, err = a.status(); err != nil {
		t.Fatal(err)
	}
	samePIDs(t, before, instancePIDs(st, "web"))
	// A member is healthy when it answers a status call within a second:
	// on a busy machine, ask again for a while.
	var members []admin.ClusterMember
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		members, err = b.client().Members(t.Context())
		voters := 0
		for _, m := range members {
			if m.Healthy && !m.Learner {
				voters++
			}
		}
		if err == nil && voters == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster members after the upgrade: %+v, %v; want 3 healthy voters, %s's among them", members, err, a.name)
		}
	}
}
