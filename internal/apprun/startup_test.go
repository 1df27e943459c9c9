package apprun

import (
	"net/http"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/supervise"
)

// startupApp is app web, which runs instances on this node (n1, zone a)
// and can send requests to other nodes; nothing of it runs.
func startupApp(t *testing.T, instances int) *App {
	t.Helper()
	sup, err := supervise.New(supervise.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Name: "web", Node: "n1", Zone: "a", Instances: instances, Startup: time.Hour, Surge: 1,
		Pool:      balance.Options{App: "web", Zone: "a", Health: balance.HealthCheck{Path: "/healthz"}, RemoteTransport: http.DefaultTransport},
		Processes: sup, Store: newStore(t), Cluster: (*cluster.Cluster)(nil)}) // the cluster is not used here
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// viewWith is a view in which node n2 runs web's instances in states.
func viewWith(states ...string) cluster.View {
	var ins []cluster.InstanceInfo
	for i, s := range states {
		ins = append(ins, cluster.InstanceInfo{Name: "web-" + string(rune('1'+i)), State: s})
	}
	return cluster.View{Nodes: map[string]cluster.NodeView{
		"n1": {Info: cluster.NodeInfo{Name: "n1", Zone: "a"}, Apps: map[string][]cluster.InstanceInfo{}},
		"n2": {Info: cluster.NodeInfo{Name: "n2", Zone: "b", NodeAddr: "127.0.0.2:7946"}, Apps: map[string][]cluster.InstanceInfo{"web": ins}},
	}}
}

// TestStartupHoldAndOtherNodes: a starting app holds its requests while
// no instance anywhere is healthy; a healthy instance on another node
// ends the hold (that node takes the requests), whether it is seen before
// the hold begins or after; so does a crash loop here; an app with no
// instance here never holds.
func TestStartupHoldAndOtherNodes(t *testing.T) {
	a := startupApp(t, 2)
	a.holdUntilReady()
	if a.gate.State().StartupEnds.IsZero() {
		t.Fatal("a starting app with no healthy instance anywhere holds nothing; want its requests held")
	}
	a.syncRemoteTargets("n1", viewWith(cluster.InstanceStarting, cluster.InstanceUnhealthy))
	if a.gate.State().StartupEnds.IsZero() {
		t.Error("another node's instances, none healthy, ended the hold")
	}
	a.syncRemoteTargets("n1", viewWith(cluster.InstanceStarting, cluster.InstanceHealthy))
	if st := a.gate.State(); !st.StartupEnds.IsZero() {
		t.Errorf("gate with a healthy instance on another node = %+v; want no hold", st)
	}

	b := startupApp(t, 2)
	b.syncRemoteTargets("n1", viewWith(cluster.InstanceHealthy)) // the view came first
	b.holdUntilReady()
	if st := b.gate.State(); !st.StartupEnds.IsZero() {
		t.Errorf("gate of an app started after another node's healthy instance was seen = %+v; want no hold", st)
	}

	c := startupApp(t, 0)
	c.holdUntilReady()
	if st := c.gate.State(); !st.StartupEnds.IsZero() {
		t.Errorf("gate of an app with no instance here = %+v; want no hold", st)
	}

	d := startupApp(t, 1)
	d.holdUntilReady()
	d.onProcessEvent(supervise.Event{Kind: supervise.EventCrashLoop, App: "web", Instance: "web-1"})
	if st := d.gate.State(); !st.StartupEnds.IsZero() {
		t.Errorf("gate of an app whose instance crash loops = %+v; want no hold: the 503 at once", st)
	}
}
