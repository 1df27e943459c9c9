package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// upgradeVersion is the version the second tandem binary reports.
const upgradeVersion = "v2-upgrade-test"

var upgradeBin = struct {
	once sync.Once
	path string
	err  error
}{}

// tandemV2 builds, once, a tandem binary that reports upgradeVersion: the
// new version a node is upgraded to.
func tandemV2(t *testing.T) string {
	t.Helper()
	upgradeBin.once.Do(func() {
		upgradeBin.path = filepath.Join(filepath.Dir(tandemBin), "tandem-v2")
		args := []string{"build", "-o", upgradeBin.path, "-ldflags", "-X github.com/tandem-run/tandem/internal/cli.Version=" + upgradeVersion}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			upgradeBin.err = fmt.Errorf("build the second tandem: %v\n%s", err, out)
		}
	})
	if upgradeBin.err != nil {
		t.Fatal(upgradeBin.err)
	}
	return upgradeBin.path
}

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
    health: { path: /healthz, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    restart: { min_backoff: 50ms, max_backoff: 1s }
    stop: { grace: 5s }
`

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

// TestUpgradeUnderLoad upgrades a node's tandem binary in place while
// clients send GETs and POSTs through its edge: no request fails, the node
// keeps its pid and its instances their processes, status reports the new
// version, and the new binary supervises the instances and keeps them in
// check (the keeper handed over still kills them when tandem dies).
func TestUpgradeUnderLoad(t *testing.T) {
	v2 := tandemV2(t)
	n := startNode(t, upgradeStack)
	st := n.waitFor("3 healthy instances", 30*time.Second, healthy("web", 3))
	before := instancePIDs(st, "web")
	startedAt := st.StartedAt

	l := startEdgeLoad("http://"+n.edge, 6, 2, 2*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	out, code := n.tandem("upgrade", "--binary", v2, "--drain", "5s")
	if code != 0 || !strings.Contains(out, "node runs "+upgradeVersion) {
		t.Fatalf("tandem upgrade: exit %d\n%s", code, out)
	}
	t.Logf("tandem upgrade:\n%s", out)
	time.Sleep(500 * time.Millisecond)
	got := l.stop()
	t.Logf("requests through the upgrade: %s", got)
	if got.status(200) < 100 {
		t.Errorf("only %d requests succeeded; the load did not run", got.status(200))
	}
	if n := got.failed(); n > 0 {
		t.Errorf("%d requests failed during the upgrade; want none", n)
	}

	select {
	case <-n.done:
		t.Fatalf("tandem exited during the upgrade: %v", n.err)
	default:
	}
	st = n.waitFor("the new version", 10*time.Second, func(s admin.Status) bool { return s.Version == upgradeVersion })
	if !st.StartedAt.After(startedAt) || st.Upgrade == nil || st.Upgrade.Result != admin.UpgradeSucceeded || st.Upgrade.From != "dev" {
		t.Errorf("status after the upgrade: started %v (before %v), upgrade %+v; want a later start and a succeeded upgrade from dev",
			st.StartedAt, startedAt, st.Upgrade)
	}
	samePIDs(t, before, instancePIDs(st, "web"))
	if out, code := n.tandem("status"); code != 0 || !strings.Contains(out, "version "+upgradeVersion) || !strings.Contains(out, "3/3 healthy") {
		t.Errorf("tandem status after the upgrade: exit %d\n%s", code, out)
	}

	// The new binary supervises them: a killed instance is started again.
	if err := syscall.Kill(before["web-1"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.waitFor("web-1 restarted by the new binary", 15*time.Second, func(s admin.Status) bool {
		in := instanceOf(s, "web", "web-1")
		return in.PID != before["web-1"] && in.PID != 0 && in.Health == "healthy"
	})
	// And the keeper it took over still kills every instance with tandem.
	st, _ = n.status()
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
	for name, pid := range instancePIDs(st, "web") {
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("instance %s (pid %d) outlived the upgraded tandem's SIGKILL", name, pid)
		}
	}
}

// TestUpgradeRefused: a binary that is missing, exits at once, or is not a
// tandem that speaks this node's handover format is refused before
// anything stops; the node serves on, instances untouched.
func TestUpgradeRefused(t *testing.T) {
	n := startNode(t, upgradeStack)
	st := n.waitFor("3 healthy instances", 30*time.Second, healthy("web", 3))
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

	l := startEdgeLoad("http://"+n.edge, 4, 1, 5*time.Millisecond)
	for _, tc := range []struct{ binary, want string }{
		{filepath.Join(dir, "missing"), "cannot be run here"},
		{exitsAtOnce, "cannot execute: bad ELF"},
		{oldFormat, "reads handover format 0"},
		{"/bin/true", "not a tandem binary"},
		{strict, "refuses the stack file"},
	} {
		out, code := n.tandem("upgrade", "--binary", tc.binary)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("tandem upgrade --binary %s: exit %d\n%s\nwant a failure saying %q", tc.binary, code, out, tc.want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	got := l.stop()
	if n := got.failed(); n > 0 || got.status(200) == 0 {
		t.Errorf("requests while upgrades were refused: %s; want all served", got)
	}
	st = n.waitFor("3 healthy instances", 10*time.Second, healthy("web", 3))
	if st.Version != "dev" || st.Upgrade != nil {
		t.Errorf("status: version %s, upgrade %+v; want dev and no upgrade", st.Version, st.Upgrade)
	}
	samePIDs(t, before, instancePIDs(st, "web"))

	// Nothing is cut: not while an app is paused.
	if out, code := n.tandem("pause", "web", "--hold", "5s"); code != 0 {
		t.Fatalf("tandem pause: exit %d\n%s", code, out)
	}
	if out, code := n.tandem("upgrade", "--binary", tandemBin); code == 0 || !strings.Contains(out, "paused") {
		t.Errorf("tandem upgrade of a node with a paused app: exit %d\n%s\nwant a refusal saying so", code, out)
	}
	if out, code := n.tandem("resume", "web"); code != 0 {
		t.Fatalf("tandem resume: exit %d\n%s", code, out)
	}
}

// TestUpgradeExecFails: when the new binary cannot be executed after all
// (here it removes itself while it is checked, as a package manager
// replacing it might), the process takes the node over again, instances
// untouched and no request failed; tandem upgrade fails saying why.
func TestUpgradeExecFails(t *testing.T) {
	vanishing := filepath.Join(t.TempDir(), "tandem-vanishing")
	writeScript(t, vanishing, fmt.Sprintf(`#!/bin/sh
case "$1" in
version) exec %[1]s "$@" ;;
validate) rm -f "$0"; exec %[1]s "$@" ;;
esac
`, tandemV2(t)))
	n, before := failedUpgrade(t, vanishing, "exec "+vanishing, "no such file")
	// This process supervises them still.
	if err := syscall.Kill(before["web-2"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.waitFor("web-2 restarted", 15*time.Second, func(s admin.Status) bool {
		in := instanceOf(s, "web", "web-2")
		return in.PID != before["web-2"] && in.PID != 0 && in.Health == "healthy"
	})
}

// TestUpgradeFallsBack: a new binary that passes the checks but cannot
// take the node over (here: its stack file does not load) execs the old
// binary back, which takes the node over as it was: no request fails, the
// instances keep their processes, and tandem upgrade fails saying why.
func TestUpgradeFallsBack(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "tandem-broken")
	writeScript(t, broken, fmt.Sprintf(`#!/bin/sh
case "$1" in
version|validate) exec %[1]s "$@" ;;
esac
exec %[1]s up -f /nonexistent/stack.yaml
`, tandemV2(t)))
	failedUpgrade(t, broken, "could not take the node over", "/nonexistent/stack.yaml")
}

// failedUpgrade starts a node, upgrades it to binary under load, and
// checks what an upgrade that fails once under way must leave: the
// command fails saying each of want, no request failed, the node runs its
// old version with the instances of before, and status says the upgrade
// failed. It returns the node and its instances' pids.
func failedUpgrade(t *testing.T, binary string, want ...string) (*node, map[string]int) {
	t.Helper()
	n := startNode(t, upgradeStack)
	st := n.waitFor("3 healthy instances", 30*time.Second, healthy("web", 3))
	before := instancePIDs(st, "web")

	l := startEdgeLoad("http://"+n.edge, 6, 2, 2*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	out, code := n.tandem("upgrade", "--binary", binary)
	t.Logf("tandem upgrade:\n%s", out)
	for _, w := range want {
		if code == 0 || !strings.Contains(out, w) {
			t.Errorf("tandem upgrade --binary %s: exit %d; want a failure saying %q", binary, code, w)
		}
	}
	if strings.Contains(out, "failed after -") {
		t.Errorf("tandem upgrade reports a negative duration:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond)
	got := l.stop()
	t.Logf("requests through the failed upgrade: %s", got)
	if n := got.failed(); n > 0 || got.status(200) < 100 {
		t.Errorf("%d requests failed through the failed upgrade; want none", n)
	}
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
    health: { path: /healthz, interval: 200ms, timeout: 200ms, rise: 1, fall: 2 }
`

// TestUpgradeInCluster upgrades one node of a three-zone cluster under
// load at its edge and another node's: no request fails, its etcd member
// comes back (the cluster keeps its quorum and three members), and every
// node sees its new version.
func TestUpgradeInCluster(t *testing.T) {
	v2 := tandemV2(t)
	nodes := startCluster(t, clusterUpgradeStack)
	a, b := nodes[0], nodes[1]
	st, _ := a.status()
	before := instancePIDs(st, "web")

	la := startEdgeLoad("http://"+a.edge, 4, 1, 2*time.Millisecond)
	lb := startEdgeLoad("http://"+b.edge, 4, 1, 2*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	out, code := a.run("upgrade", "--binary", v2)
	if code != 0 {
		t.Fatalf("tandem upgrade of %s: exit %d\n%s", a.name, code, out)
	}
	t.Logf("tandem upgrade:\n%s", out)
	time.Sleep(500 * time.Millisecond)
	for name, l := range map[string]*edgeLoad{a.name: la, b.name: lb} {
		got := l.stop()
		t.Logf("requests at %s through the upgrade: %s", name, got)
		if n := got.failed(); n > 0 || got.status(200) < 100 {
			t.Errorf("%d requests at %s failed during the upgrade of %s; want none", n, name, a.name)
		}
	}
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
	st, _ = a.status()
	samePIDs(t, before, instancePIDs(st, "web"))
	members, err := b.client().Members(t.Context())
	healthyMembers := 0
	for _, m := range members {
		if m.Healthy && !m.Learner {
			healthyMembers++
		}
	}
	if err != nil || healthyMembers != 3 {
		t.Errorf("cluster members after the upgrade: %+v, %v; want 3 healthy voters, %s's among them", members, err, a.name)
	}
}
