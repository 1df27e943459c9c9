package sites

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/pgha"
)

// recorder is an app and a route for a Plan, and the events a
// controller sends: what the node was told to do.
type recorder struct {
	mu       sync.Mutex
	scales   []int
	fallback bool
	events   []Event
	failNext int // Scale calls to refuse, as during a deploy
}

func (r *recorder) Scale(_ context.Context, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failNext > 0 {
		r.failNext--
		return errors.New("a deploy is in progress")
	}
	r.scales = append(r.scales, n)
	return nil
}

func (r *recorder) On(string) { r.mu.Lock(); r.fallback = true; r.mu.Unlock() }
func (r *recorder) Off()      { r.mu.Lock(); r.fallback = false; r.mu.Unlock() }

func (r *recorder) event(e Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) state() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.scales) == 0 {
		return -1, r.fallback
	}
	return r.scales[len(r.scales)-1], r.fallback
}

func (r *recorder) kinds() []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

// fakeDB is a database whose status the test sets and whose switchover
// makes the target the primary: the failback's order is what is shown
// here; internal/pgha's tests run the real one.
type fakeDB struct {
	mu       sync.Mutex
	st       pgha.Status
	switched []string
}

func (d *fakeDB) Status() pgha.Status { d.mu.Lock(); defer d.mu.Unlock(); return d.st }

func (d *fakeDB) Switchover(_ context.Context, to string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.switched = append(d.switched, to)
	d.st = dbStatus(to)
	return nil
}

// dbStatus is a database led by leader, with home-1 (home) and cloud-1
// (cloud) its members.
func dbStatus(leader string) pgha.Status {
	st := pgha.Status{Leader: leader}
	for _, m := range []pgha.MemberStatus{{Name: "home-1", Site: "home"}, {Name: "cloud-1", Site: "cloud"}} {
		if m.Name == leader {
			m.Role = "primary"
		} else {
			m.Role, m.Streaming, m.LagBytes = "standby", true, 100
		}
		st.Members = append(st.Members, m)
	}
	return st
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestControllerEmergencyAndFailback runs cloud-1's controller against a
// real etcd, with home-1's beat kept by the test: home's beat ends, and
// EmergencyAfter later cloud-1 declares the emergency and enters
// emergency mode (its app scaled up once a refused scale is retried, its
// route's fallback on). A failback is refused while home is down; with
// home back it switches the database over to home-1 first, then ends the
// emergency, and cloud-1 returns to normal mode.
func TestControllerEmergencyAndFailback(t *testing.T) {
	c := clustertest.Start(t, "cloud-1")
	ctx := t.Context()
	rec := &recorder{failNext: 1}
	db := &fakeDB{st: dbStatus("home-1")}
	ctl, err := New(Options{
		Config:   Config{Node: "cloud-1", Site: "cloud", LeaderSite: "home", EmergencyAfter: time.Second},
		Cluster:  c,
		Database: db,
		Effects:  Plan{Apps: []AppPlan{{Name: "web", Normal: 0, Emergency: 2, App: rec}}, Routes: []RoutePlan{{Label: "/admin/", Fallback: rec}}},
		OnEvent:  rec.event,
		Interval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	home, stopHome := runBeat(t, c, "home-1", "home")
	runBeat(t, c, "cloud-1", "cloud")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctl.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitUntil(t, 5*time.Second, "normal mode applied", func() bool { n, fb := rec.state(); return n == 0 && !fb })
	waitUntil(t, 5*time.Second, "both sites up", func() bool { return len(ctl.Status().Sites) == 2 && ctl.Status().Sites[0].Up })
	if st := ctl.Status(); st.Leading != "home" || st.Mode != "normal" || !st.Quorum || st.Emergency != nil {
		t.Errorf("status before = %+v; want home leading, normal mode, quorum", st)
	}
	if got, down := ctl.Leading(), ctl.Unreachable(); got != "home" || down != "" {
		t.Errorf("Leading(), Unreachable() before = %q, %q; want home and none", got, down)
	}

	stopHome()
	cut := time.Now()
	db.mu.Lock()
	db.st = dbStatus("cloud-1") // the database promotes cloud-1 (pgha's part)
	db.mu.Unlock()
	waitUntil(t, 10*time.Second, "emergency mode applied", func() bool { n, fb := rec.state(); return n == 2 && fb })
	took := time.Since(cut)
	st := ctl.Status()
	if st.Emergency == nil || st.Emergency.Site != "home" || st.Emergency.By != "cloud-1" || st.Mode != "emergency" || st.Leading != "cloud" {
		t.Fatalf("status in the emergency = %+v", st)
	}
	if got, down := ctl.Leading(), ctl.Unreachable(); got != "cloud" || down != "home" {
		t.Errorf("Leading(), Unreachable() in the emergency = %q, %q; want cloud, the emergency leader, and home", got, down)
	}
	if took < time.Second {
		t.Errorf("emergency after %s; want EmergencyAfter (1s) first", took)
	}
	if k := rec.kinds(); !slices.Contains(k, EventDeclared) || !slices.Contains(k, EventMode) {
		t.Errorf("events = %v; want declared and mode", k)
	}
	if _, err := ctl.Failback(ctx); !errors.Is(err, ErrNotReady) {
		t.Errorf("Failback with home down = %v; want ErrNotReady", err)
	}

	home() // home is back
	waitUntil(t, 5*time.Second, "home up again", func() bool { return ctl.Status().Sites[0].Up })
	res, err := ctl.Failback(ctx)
	if err != nil {
		t.Fatalf("Failback = %v", err)
	}
	if res.Target != "home-1" || res.Site != "home" || !slices.Equal(db.switched, []string{"home-1"}) {
		t.Errorf("failback = %+v, switchovers %v; want home-1", res, db.switched)
	}
	waitUntil(t, 5*time.Second, "normal mode again", func() bool { n, fb := rec.state(); return n == 0 && !fb })
	if st := ctl.Status(); st.Emergency != nil || st.Leading != "home" || st.LastFailback == nil {
		t.Errorf("status after failback = %+v", st)
	}
	waitUntil(t, 5*time.Second, "home leading again", func() bool { return ctl.Leading() == "home" && ctl.Unreachable() == "" })
	if _, err := ctl.Failback(ctx); !errors.Is(err, ErrNoEmergency) {
		t.Errorf("Failback without an emergency = %v; want ErrNoEmergency", err)
	}
}

// runBeat keeps node's beat in site; stop ends it (revoked at once) and
// the returned restart starts it again.
func runBeat(t *testing.T, c *cluster.Cluster, node, site string) (restart, stop func()) {
	t.Helper()
	var mu sync.Mutex
	var cancel context.CancelFunc
	var done chan struct{}
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		ctx, cc := context.WithCancel(context.Background())
		cancel, done = cc, make(chan struct{})
		d := done
		go func() { defer close(d); c.SiteBeat(node, site, 2*time.Second).Run(ctx) }()
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	start()
	t.Cleanup(stop)
	return start, stop
}

// TestLeading: the site that takes clients is the running primary's;
// without a database, the leader site until an emergency is declared.
func TestLeading(t *testing.T) {
	t.Parallel()
	emergency := &pgha.Emergency{Site: "home"}
	tests := []struct {
		name string
		db   bool
		o    Observation
		want string
	}{
		{"no database", false, Observation{}, "home"},
		{"no database, emergency", false, Observation{Emergency: emergency}, ""},
		{"database not read yet", true, Observation{}, ""},
		{"primary at home", true, Observation{DB: &DBState{Leader: "home-1", LeaderSite: "home", LeaderRunning: true}}, "home"},
		{"emergency leader", true, Observation{Emergency: emergency, DB: &DBState{Leader: "cloud-1", LeaderSite: "cloud", LeaderRunning: true}}, "cloud"},
		{"lease held, not promoted yet", true, Observation{Emergency: emergency, DB: &DBState{Leader: "cloud-1", LeaderSite: "cloud"}}, ""},
	}
	for _, tc := range tests {
		o := Options{Config: Config{Node: "cloud-1", Site: "cloud", LeaderSite: "home", EmergencyAfter: time.Second}, Cluster: (*cluster.Cluster)(nil)} // never run: no store is read
		if tc.db {
			o.Database = &fakeDB{}
		}
		ctl, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctl.last = tc.o
		if got := ctl.Leading(); got != tc.want {
			t.Errorf("%s: Leading() = %q; want %q", tc.name, got, tc.want)
		}
	}
}
