package apprun

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/supervise"
)

// TestScale: an app started with no instance here (a follower site's
// normal count) scales to two at run time — real processes under a real
// supervisor, targets of its balancer — then back to none, each extra
// instance drained and stopped; bad counts are refused.
func TestScale(t *testing.T) {
	c := clustertest.Start(t, "a")
	sup, err := supervise.New(supervise.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { sup.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	a, err := New(Options{Name: "web", Node: "a", Zone: "z", Stack: deploy.Spec{Command: []string{"/bin/sleep", "600"}, Dir: "/"},
		StackFile: "stack.yaml", Instances: 0, Startup: time.Second, Surge: 1, History: 5, Drain: time.Second,
		Pool: balance.Options{App: "web"}, Processes: sup, Store: newStore(t), Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Status().Instances); n != 0 {
		t.Fatalf("started with %d instances; want none", n)
	}
	if err := a.Scale(t.Context(), 2); err != nil {
		t.Fatalf("Scale(2) = %v", err)
	}
	st := a.Status()
	if st.Desired != 2 || len(st.Instances) != 2 || len(a.pool.Targets()) != 2 {
		t.Fatalf("after Scale(2): desired %d, %d instances, %d targets; want 2 of each", st.Desired, len(st.Instances), len(a.pool.Targets()))
	}
	for _, in := range st.Instances {
		if in.Process.PID == 0 {
			t.Errorf("instance %s has no process: %+v", in.Name, in.Process)
		}
	}
	if err := a.Scale(t.Context(), 2); err != nil || len(a.Status().Instances) != 2 {
		t.Errorf("Scale(2) again = %v, %d instances; want nothing to do", err, len(a.Status().Instances))
	}
	if err := a.Scale(t.Context(), 0); err != nil {
		t.Fatalf("Scale(0) = %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(a.Status().Instances) > 0 || len(a.pool.Targets()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after Scale(0): %d instances, %d targets left; want none", len(a.Status().Instances), len(a.pool.Targets()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range []int{-1, 257} {
		if err := a.Scale(t.Context(), n); !errors.Is(err, ErrInvalid) {
			t.Errorf("Scale(%d) = %v; want ErrInvalid", n, err)
		}
	}
	if d := a.Status().Desired; d != 0 {
		t.Errorf("desired after refused scales = %d; want 0", d)
	}
}
