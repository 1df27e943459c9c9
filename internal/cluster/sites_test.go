package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestSiteBeats: a node's beat is live while it runs and gone once it
// stops (revoked at once) or stops renewing (its lease expires); the
// emergency key is written and deleted only at the revision read, and
// the database store reads it in the same transaction as its own keys.
func TestSiteBeats(t *testing.T) {
	t.Parallel()
	n := openNode(t, testOptions(t, "n1", "127.0.0.1"))
	ctx := t.Context()
	stopHome := goRun(t, n.SiteBeat("home-1", "home", 2*time.Second).Run)
	goRun(t, n.SiteBeat("cloud-1", "cloud", 2*time.Second).Run)
	waitFor(t, 5*time.Second, "both beats", func() bool {
		st, err := n.SitesState(ctx)
		return err == nil && st.Beats["home-1"] == "home" && st.Beats["cloud-1"] == "cloud"
	})
	changed := n.WatchSites(ctx)
	<-changed // in place
	stopHome()
	st, err := n.SitesState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Beats["home-1"]; ok {
		t.Errorf("beats after home-1 stopped = %v; want its beat revoked at once", st.Beats)
	}
	if st.Known["home-1"] != "home" || st.Known["cloud-1"] != "cloud" {
		t.Errorf("known nodes = %v; want both, down ones included", st.Known)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no change notified for a beat revoked")
	}

	// The emergency key: compare-and-swap on its revision.
	if err := n.PutEmergency(ctx, []byte(`{"site":"home"}`), 0); err != nil {
		t.Fatalf("PutEmergency(absent) = %v", err)
	}
	if err := n.PutEmergency(ctx, []byte(`{"site":"home"}`), 0); !errors.Is(err, ErrConflict) {
		t.Errorf("PutEmergency(absent) again = %v; want ErrConflict", err)
	}
	st, _ = n.SitesState(ctx)
	if string(st.Emergency.Value) != `{"site":"home"}` || st.Emergency.Revision == 0 {
		t.Fatalf("emergency = %q@%d; want it written", st.Emergency.Value, st.Emergency.Revision)
	}
	db, err := NewDatabaseStore(n.etcd(), n.Prefix(), "pg")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(dst.Emergency.Value) != string(st.Emergency.Value) || dst.Emergency.Revision != st.Emergency.Revision {
		t.Errorf("database store's emergency = %+v; want %+v", dst.Emergency, st.Emergency)
	}
	notified := make(chan struct{}, 16)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go db.Watch(wctx, func() { notified <- struct{}{} })
	time.Sleep(200 * time.Millisecond) // the watch in place
	for len(notified) > 0 {
		<-notified
	}
	if err := n.DeleteEmergency(ctx, st.Emergency.Revision-1); !errors.Is(err, ErrConflict) {
		t.Errorf("DeleteEmergency(old revision) = %v; want ErrConflict", err)
	}
	if err := n.DeleteEmergency(ctx, st.Emergency.Revision); err != nil {
		t.Errorf("DeleteEmergency = %v", err)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Error("the database store's watch missed the emergency's end")
	}
	if dst, _ := db.Load(ctx); dst.Emergency.Revision != 0 {
		t.Errorf("emergency after delete = %+v; want none", dst.Emergency)
	}
}

// TestSiteBeatExpires: a beat whose node stops renewing it (cut off)
// disappears once its lease runs out, decided by etcd, not by the node.
func TestSiteBeatExpires(t *testing.T) {
	t.Parallel()
	n := openNode(t, testOptions(t, "n1", "127.0.0.1"))
	ctx := t.Context()
	lease, err := n.etcd().Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.etcd().Put(ctx, keyspace(n.Prefix()).siteBeat("gone"), "home", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "the beat to expire", func() bool {
		st, err := n.SitesState(ctx)
		_, ok := st.Beats["gone"]
		return err == nil && !ok
	})
	if d := time.Since(start); d < time.Second {
		t.Errorf("beat gone after %s; want its lease (2s) to run out first", d)
	}
}
