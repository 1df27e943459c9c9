package cluster

import (
	"context"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func testNodeInfo(name, zone string) NodeInfo {
	return NodeInfo{Name: name, Zone: zone, Site: "home", Version: "test", NodeAddr: name + ":7000",
		Started: time.Unix(1700000000, 0).UTC()}
}

func TestViewSeesRegistries(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	viewer := NewViewer(ViewerOptions{Client: fixedClient(client), Prefix: testPrefix, StaleAfter: time.Second, Logger: testLogger(t)})
	goRun(t, viewer.Run)
	const ttl = 5 * time.Second // longer than the waits below: leaving must come from the revoke
	regA := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("a", "z1"), TTL: ttl, Logger: testLogger(t)})
	regB := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("b", "z2"), TTL: ttl, Logger: testLogger(t)})
	webA := []InstanceInfo{{Name: "web-1", Release: "r1", State: InstanceHealthy}}
	regA.SetApp("web", webA) // before Run: written once registered
	stopA := goRun(t, regA.Run)
	goRun(t, regB.Run)

	view := waitView(t, viewer, 10*time.Second, "nodes a and b", func(v View) bool {
		return len(v.Nodes) == 2 && len(v.Nodes["a"].Apps["web"]) == 1
	})
	if !view.Synced || view.SyncedAt.IsZero() || view.Revision == 0 {
		t.Errorf("view Synced, SyncedAt, Revision = %v, %v, %d; want true, set, > 0", view.Synced, view.SyncedAt, view.Revision)
	}
	if got := view.Nodes["a"].Info; got != testNodeInfo("a", "z1") {
		t.Errorf("view node a = %+v; want %+v", got, testNodeInfo("a", "z1"))
	}
	if got := view.Nodes["a"].Apps["web"]; !reflect.DeepEqual(got, webA) {
		t.Errorf("view a web = %+v; want %+v", got, webA)
	}
	if got := view.Nodes["b"].Apps; len(got) != 0 {
		t.Errorf("view b apps = %+v; want none", got)
	}

	webB := []InstanceInfo{{Name: "web-1", Release: "r2", State: InstanceStarting}, {Name: "web-2", Release: "r2", State: InstanceHealthy}}
	regB.SetApp("web", webB)
	regA.SetApp("web", nil)
	regA.SetApp("worker", []InstanceInfo{{Name: "worker-1", Release: "r1", State: InstanceDraining}})
	view = waitView(t, viewer, 5*time.Second, "updated instances", func(v View) bool {
		return reflect.DeepEqual(v.Nodes["b"].Apps["web"], webB) && len(v.Nodes["a"].Apps) == 1 && len(v.Nodes["a"].Apps["worker"]) == 1
	})
	if _, ok := view.Nodes["a"].Apps["web"]; ok {
		t.Errorf("view a apps = %+v; want web removed", view.Nodes["a"].Apps)
	}

	// A node that stops renewing its lease (it crashed) leaves the view
	// when the lease expires.
	lease, err := client.Grant(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), keyspace(testPrefix).node("crashed"), `{"name":"crashed"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitView(t, viewer, 5*time.Second, "node crashed present", func(v View) bool { _, ok := v.Nodes["crashed"]; return ok })
	waitView(t, viewer, 5*time.Second, "node crashed gone", func(v View) bool { _, ok := v.Nodes["crashed"]; return !ok })

	start := time.Now()
	stopA()
	view = waitView(t, viewer, ttl-time.Second, "node a gone", func(v View) bool { return len(v.Nodes) == 1 })
	if _, ok := view.Nodes["b"]; !ok {
		t.Errorf("view nodes = %v; want b to remain", view.Nodes)
	}
	t.Logf("node a left the view %v after its registry stopped (TTL %v)", time.Since(start), ttl)
	resp, err := client.Get(t.Context(), keyspace(testPrefix).instances(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Errorf("instance keys = %v, %v; want 1 (b's web)", resp, err)
	}
}

func TestViewStaticStability(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out etcd outages; runs without -short")
	}
	t.Parallel()
	etcd := newTestEtcd(t)
	client := etcd.newClient()
	viewer := NewViewer(ViewerOptions{Client: fixedClient(client), Prefix: testPrefix, StaleAfter: time.Second, Logger: testLogger(t)})
	goRun(t, viewer.Run)
	const ttl = 2 * time.Second
	regA := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("a", "z1"), TTL: ttl, Logger: testLogger(t)})
	regB := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("b", "z2"), TTL: ttl, Logger: testLogger(t)})
	goRun(t, regA.Run)
	goRun(t, regB.Run)
	regA.SetApp("web", []InstanceInfo{{Name: "web-1", State: InstanceHealthy}})
	waitView(t, viewer, 10*time.Second, "nodes a and b", func(v View) bool {
		return v.Synced && len(v.Nodes) == 2 && len(v.Nodes["a"].Apps["web"]) == 1
	})
	leaseBefore := nodeLease(t, client, "a")

	etcd.stop() // takes seconds: etcd drains open watch streams first
	stopped := time.Now()
	view := waitView(t, viewer, 5*time.Second, "not synced", func(v View) bool { return !v.Synced })
	if len(view.Nodes) != 2 || len(view.Nodes["a"].Apps["web"]) != 1 {
		t.Errorf("view without etcd = %+v; want the last known nodes a and b with a's web", view.Nodes)
	}
	if !view.SyncedAt.Before(time.Now().Add(-time.Second)) {
		t.Errorf("view SyncedAt = %v; want over StaleAfter ago", view.SyncedAt)
	}
	// The outage must outlast the TTL, so that the registries' leases are
	// lost client-side (the keep-alive deadline passes) and they register
	// again. Only waiting shows that.
	time.Sleep(ttl + 1500*time.Millisecond - time.Since(stopped))
	if view := viewer.View(); view.Synced || len(view.Nodes) != 2 {
		t.Errorf("view after %v without etcd: Synced %v, %d nodes; want false, 2", time.Since(stopped), view.Synced, len(view.Nodes))
	}

	etcd.start()
	regB.SetApp("web", []InstanceInfo{{Name: "web-9", State: InstanceStarting}})
	view = waitView(t, viewer, 15*time.Second, "synced again with b's new instance", func(v View) bool {
		return v.Synced && len(v.Nodes) == 2 && len(v.Nodes["b"].Apps["web"]) == 1
	})
	if view.Nodes["a"].Apps["web"][0].Name != "web-1" {
		t.Errorf("view a web after restart = %+v; want web-1", view.Nodes["a"].Apps["web"])
	}
	deadline := time.Now().Add(10 * time.Second)
	for nodeLease(t, client, "a") == leaseBefore {
		if time.Now().After(deadline) {
			t.Fatalf("node a lease = %x after the outage; want a new lease (re-registration)", leaseBefore)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeLease returns the lease of a node's registration key.
func nodeLease(t *testing.T, client *clientv3.Client, name string) clientv3.LeaseID {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := client.Get(ctx, keyspace(testPrefix).node(name))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get node %s = %v, %v; want one key", name, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// TestRegistryKeptForHandover: a registry told to Keep leaves the node
// registered when it stops (an upgrade hands over to a new binary); the
// next registry of the node takes its keys over under a lease of its own,
// so that they outlive the old lease.
func TestRegistryKeptForHandover(t *testing.T) {
	t.Parallel()
	client := startTestEtcd(t)
	viewer := NewViewer(ViewerOptions{Client: fixedClient(client), Prefix: testPrefix, StaleAfter: time.Second, Logger: testLogger(t)})
	goRun(t, viewer.Run)
	const ttl = time.Second
	web := []InstanceInfo{{Name: "web-1", Release: "v1", State: InstanceHealthy}}
	old := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("a", "z1"), TTL: ttl, Logger: testLogger(t)})
	old.SetApp("web", web)
	stopOld := goRun(t, old.Run)
	waitView(t, viewer, 10*time.Second, "node a with web", func(v View) bool { return len(v.Nodes["a"].Apps["web"]) == 1 })
	oldLease := nodeLease(t, client, "a")

	old.Keep()
	stopOld()
	if got := nodeLease(t, client, "a"); got != oldLease {
		t.Fatalf("node a's lease after a kept stop = %x; want %x still", got, oldLease)
	}
	next := NewRegistry(RegistryOptions{Client: fixedClient(client), Prefix: testPrefix, Self: testNodeInfo("a", "z1"), TTL: ttl, Logger: testLogger(t)})
	next.SetApp("web", web)
	goRun(t, next.Run)
	deadline := time.Now().Add(5 * time.Second)
	for nodeLease(t, client, "a") == oldLease {
		if time.Now().After(deadline) {
			t.Fatal("the next registry did not register node a under a lease of its own")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Past the old lease's TTL, node a and its instances are still there.
	time.Sleep(2 * ttl)
	if v := viewer.View(); len(v.Nodes["a"].Apps["web"]) != 1 {
		t.Errorf("view after the old lease expired: %+v; want node a with web", v.Nodes)
	}
}
