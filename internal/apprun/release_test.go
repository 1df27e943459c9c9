package apprun

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// The tests of this file decide which release an app starts with against
// a real one-member etcd: what the cluster's records say decides, as it
// does for a node that starts among others.

// testApp is app web on node of c, with its own release store, whose
// stack file section runs command.
func testApp(t *testing.T, c *cluster.Cluster, node string, store *deploy.Store, command string) *App {
	t.Helper()
	sup, err := supervise.New(supervise.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Name: "web", Node: node, Zone: "z", Stack: deploy.Spec{Command: []string{command}, Dir: "/"},
		StackFile: "stack.yaml", Instances: 1, Startup: time.Second, Surge: 1, History: 5,
		Pool: balance.Options{App: "web"}, Processes: sup, Store: store, Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newStore(t *testing.T) *deploy.Store {
	t.Helper()
	s, err := deploy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func desiredOf(t *testing.T, c *cluster.Cluster) Desired {
	t.Helper()
	b, err := c.Record(t.Context(), desiredKind, "web")
	if err != nil {
		t.Fatalf("desired release: %v", err)
	}
	var d Desired
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReleaseAloneFollowsStackFile: a node that is the only one running
// the app makes a release of its stack file's section, on the first
// start and whenever the section changes, and that release becomes the
// cluster's.
func TestReleaseAloneFollowsStackFile(t *testing.T) {
	c := clustertest.Start(t, "a")
	store := newStore(t)
	rel, err := testApp(t, c, "a", store, "/bin/v1").loadRelease(t.Context())
	if err != nil || rel.Version != "v1" || rel.Command[0] != "/bin/v1" {
		t.Fatalf("first start: %+v, %v; want v1 of the stack file", rel, err)
	}
	a := testApp(t, c, "a", store, "/bin/v1")
	if rel, err := a.loadRelease(t.Context()); err != nil || rel.Version != "v1" {
		t.Fatalf("restart, same file: %+v, %v; want v1 again", rel, err)
	}
	a.recordRunning(t.Context())
	rel, err = testApp(t, c, "a", store, "/bin/v2").loadRelease(t.Context())
	if err != nil || rel.Version != "v2" {
		t.Fatalf("restart, changed file: %+v, %v; want a new v2", rel, err)
	}
	if d := desiredOf(t, c); d.Release.Version != "v2" || d.Release.Command[0] != "/bin/v2" {
		t.Errorf("cluster's release = %+v; want v2 of the stack file", d.Release)
	}
}

// TestReleaseConvergesToCluster: a node that starts where other nodes run
// the app takes the cluster's release, not its stack file's — a node
// that was down during a deploy comes back on the deployed release — and
// later automatic versions do not reuse the cluster's labels.
func TestReleaseConvergesToCluster(t *testing.T) {
	c := clustertest.Start(t, "a")
	store := newStore(t)
	if _, err := testApp(t, c, "b", store, "/bin/v1").loadRelease(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Meanwhile node a deployed v7 and recorded running it.
	other := testApp(t, c, "a", newStore(t), "/bin/v1")
	v7 := deploy.Release{Version: "v7", Command: []string{"/bin/v7"}, Dir: "/", Source: deploy.SourceDeploy, Created: time.Now()}
	other.publishDesired(t.Context(), v7, "deploy by ann at a")
	other.state.Current = "v7"
	other.recordRunning(t.Context())

	b := testApp(t, c, "b", store, "/bin/v1")
	rel, err := b.loadRelease(t.Context())
	if err != nil || rel.Version != "v7" || rel.Command[0] != "/bin/v7" {
		t.Fatalf("start among others: %+v, %v; want the cluster's v7", rel, err)
	}
	if b.state.Current != "v7" || b.state.Seq < 7 {
		t.Errorf("state: current %q, seq %d; want v7 and a seq of at least 7", b.state.Current, b.state.Seq)
	}
	last := b.state.Deploys[len(b.state.Deploys)-1]
	if last.To != "v7" || last.From != "v1" || last.Result != deploy.ResultSucceeded {
		t.Errorf("last record = %+v; want v1 -> v7 converged", last)
	}
	if st, err := store.Load("web"); err != nil || st.Current != "v7" {
		t.Errorf("stored current = %q, %v; want v7 kept across restarts", st.Current, err)
	}
	// A changed stack file does not override the cluster's release.
	rel, err = testApp(t, c, "b", store, "/bin/mine").loadRelease(t.Context())
	if err != nil || rel.Version != "v7" {
		t.Errorf("start among others with a changed file: %+v, %v; want the cluster's v7 still", rel, err)
	}
}

// TestStatusShowsNodesThatDiffer: status names the nodes whose recorded
// release is not the cluster's.
func TestStatusShowsNodesThatDiffer(t *testing.T) {
	c := clustertest.Start(t, "a")
	a := testApp(t, c, "a", newStore(t), "/bin/v1")
	if _, err := a.loadRelease(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.recordRunning(t.Context())
	b := testApp(t, c, "b", newStore(t), "/bin/v1")
	b.state.Current = "v0"
	b.recordRunning(t.Context())
	a.readCluster(t.Context())
	cs := a.Status().Cluster
	if cs.Desired.Release.Version != "v1" || len(cs.Differ) != 1 || cs.Differ[0].Node != "b" || cs.Differ[0].Release != "v0" {
		t.Errorf("cluster status = %+v; want v1 desired and node b on v0 differing", cs)
	}
}
