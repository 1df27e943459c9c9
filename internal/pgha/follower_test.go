package pgha

import (
	"context"
	"testing"
	"time"
)

// TestFollowerRoutesAndSwitchover: a node that holds no member follows
// the database through the store: its routes are the members', its status
// lists them, its credentials are the cluster's, and a switchover it asks
// for moves the routes.
func TestFollowerRoutesAndSwitchover(t *testing.T) {
	t.Parallel()
	skipShort(t)
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	store, err := tc.etcd.c.OpenDatabaseStore("pg")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := NewFollower(FollowerOptions{Name: "c", Zone: "z3", Store: store, Logger: testLogger(t, "c", nil)})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The members publish their addresses (here: the proxies in front of
	// them); a follower routes as the members do.
	memberRoutes, _ := tc.members["a"].m.Routes()
	waitFor(t, 10*time.Second, "the follower's routes", func() bool { r, _ := f.Routes(); return r == memberRoutes && r.Primary != "" && r.Standby != "" })
	st := f.Status()
	if st.Leader != "a" || len(st.Members) != 2 || st.Role != "" || !st.StoreReachable {
		t.Errorf("follower status = %+v; want leader a, two members, no role of its own", st)
	}
	creds, err := f.Credentials(t.Context())
	want, werr := tc.members["a"].m.Credentials(t.Context())
	if err != nil || werr != nil || creds != want || creds.App.Password == "" {
		t.Errorf("follower credentials = %+v, %v; want the members' (%v)", creds, err, werr)
	}

	_, changed := f.Routes()
	sctx, scancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer scancel()
	if err := f.Switchover(sctx, "b"); err != nil {
		t.Fatalf("Switchover from a follower = %v", err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the routes did not change after the switchover")
	}
	waitFor(t, 10*time.Second, "the follower's primary route on b", func() bool { r, _ := f.Routes(); return r.Primary == memberRoutes.Standby })
}
