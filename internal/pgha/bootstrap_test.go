package pgha

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// appConn connects to member n's PostgreSQL directly as the app role.
func (tc *testCluster) appConn(ctx context.Context, n string) (*pgx.Conn, error) {
	c, err := tc.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=require&connect_timeout=2",
		c.App.User, c.App.Password, tc.addr(n), DefaultAppUser))
}

// credentials are the cluster's, read once through a store of the test's
// own (a member's store goes away when the member is killed).
func (tc *testCluster) credentials(ctx context.Context) (Credentials, error) {
	tc.credsMu.Lock()
	defer tc.credsMu.Unlock()
	if tc.creds != nil {
		return *tc.creds, nil
	}
	store, err := tc.etcd.c.OpenDatabaseStore("pg")
	if err != nil {
		return Credentials{}, err
	}
	defer store.Close()
	c, err := loadCredentials(ctx, store, DefaultAppUser)
	if err != nil {
		return c, err
	}
	tc.creds = &c
	return c, nil
}

func TestBootstrapAndReplication(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a"})
	tc.waitHealthy("a", 90*time.Second)
	st := tc.status("a")
	if st.SyncStandby != "b" {
		t.Fatalf("sync standby = %q; want b", st.SyncStandby)
	}
	ms, _ := findMember(st, "b")
	if ms.Sync != "sync" {
		t.Errorf("b's sync state = %q; want sync", ms.Sync)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := tc.appConn(ctx, "a")
	if err != nil {
		t.Fatalf("connect to a as the app: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ('replicated')"); err != nil {
		t.Fatal(err)
	}
	sc, err := tc.appConn(ctx, "b")
	if err != nil {
		t.Fatalf("connect to b: %v", err)
	}
	defer sc.Close(ctx)
	var v string
	if err := sc.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "replicated" {
		t.Fatalf("read on standby b = %q, %v; want the row (synchronous commit waits for b)", v, err)
	}
	if _, err := sc.Exec(ctx, "INSERT INTO t VALUES ('x')"); err == nil {
		t.Error("write on standby b succeeded; want read-only")
	}
	r, _ := tc.members["b"].m.Routes()
	if r.Primary != tc.members["a"].peer.addr() || r.Standby != tc.members["b"].peer.addr() {
		t.Errorf("b's Routes = %+v; want primary a (%s), standby b", r, tc.members["a"].peer.addr())
	}
}

// TestBootstrapRace starts two members with empty data directories at
// once: exactly one wins the initialize key and runs initdb, the other
// clones from it (neither data directory is ever replaced).
func TestBootstrapRace(t *testing.T) {
	t.Parallel()
	skipShort(t)
	tc := newTestCluster(t, clusterSpec{names: []string{"a", "b"}})
	var leader string
	waitFor(t, 120*time.Second, "a leader", func() bool { leader = tc.leader(); return leader != "" })
	tc.waitHealthy(leader, 120*time.Second)
	for _, n := range []string{"a", "b"} {
		if old, _ := filepath.Glob(filepath.Join(tc.members[n].dir, "data.old-*")); len(old) > 0 {
			t.Errorf("%s's data directory was replaced (%v): both ran initdb", n, old)
		}
	}
	e := waitEvent(t, tc.members[leader], EventBootstrap, 5*time.Second)
	if e.Member != leader {
		t.Errorf("bootstrap event names %s; want %s", e.Member, leader)
	}
}
