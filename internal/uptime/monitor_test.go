package uptime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestMonitorAlertsOnceAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newTarget(200)
		rec := new(recorder)
		m, err := New(Options{Node: "n1", Checks: []Check{testCheck()}, Renotify: time.Hour, Notifiers: []Notifier{rec}, Transport: site})
		if err != nil {
			t.Fatal(err)
		}
		start(t, m)
		time.Sleep(3 * time.Second) // the offset, then two passes
		if st := m.Status()[0]; st.State != Up || len(rec.list()) != 0 {
			t.Fatalf("after 3s: state %v, notices %q; want up and none (the first up raises nothing)", st.State, states(rec.list()))
		}

		site.down()
		time.Sleep(2 * time.Second) // two failures
		synctest.Wait()
		if got := states(rec.list()); !slices.Equal(got, []string{"down"}) {
			t.Fatalf("2s after the site went down: notices %q; want [down]", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := states(rec.list()); !slices.Equal(got, []string{"down"}) {
			t.Fatalf("7s after the site went down: notices %q; want still only [down]", got)
		}
		down := rec.list()[0]
		if down.Check != "home" || down.URL != "http://site.test/" || down.Previous != Up || down.Nodes["n1"].State != Down ||
			!strings.Contains(down.Message, "home is DOWN: 1 of 1 node see it failing") || !strings.Contains(down.Nodes["n1"].Error, "status 503") {
			t.Errorf("down notice = %+v; want home up->down with n1's error", down)
		}

		site.up()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := states(rec.list()); !slices.Equal(got, []string{"down", "up"}) {
			t.Fatalf("after recovery: notices %q; want [down up]", got)
		}
		if upn := rec.list()[1]; upn.Previous != Down || !strings.Contains(upn.Message, "UP again after") {
			t.Errorf("recovery notice = %+v; want down->up \"UP again after ...\"", upn)
		}

		st := m.Status()[0]
		if st.State != Up || st.Local != Up || !st.Last.OK || st.Last.Status != 200 || len(st.Nodes) != 1 || st.Nodes["n1"].State != Up {
			t.Errorf("Status() = %+v; want up everywhere", st)
		}
		if n := len(st.History); n < 13 || n > 16 {
			t.Errorf("history holds %d probes after ~15s at 1s; want about 15", n)
		}
	})
}

func TestMonitorHistoryKeepsTheLast100(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newTarget(200)
		m, err := New(Options{Node: "n1", Checks: []Check{testCheck()}, Transport: site})
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, m)
		time.Sleep(150 * time.Second)
		stop()
		st := m.Status()[0]
		if len(st.History) != historySize {
			t.Fatalf("history holds %d probes after %d; want %d", len(st.History), site.hits.Load(), historySize)
		}
		for i := 1; i < len(st.History); i++ {
			if gap := st.History[i].At.Sub(st.History[i-1].At); gap != time.Second {
				t.Fatalf("probes %d and %d are %s apart; want 1s, oldest first", i-1, i, gap)
			}
		}
		if !st.History[len(st.History)-1].At.Equal(st.Last.At) {
			t.Errorf("last history entry %v; want the last probe %v", st.History[len(st.History)-1].At, st.Last.At)
		}
	})
}

func TestMonitorRenotifies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		site := newTarget(503)
		rec := new(recorder)
		m, err := New(Options{Node: "n1", Checks: []Check{testCheck()}, Renotify: 10 * time.Second, Notifiers: []Notifier{rec}, Transport: site})
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, m)
		time.Sleep(25 * time.Second)
		stop()
		if got := states(rec.list()); !slices.Equal(got, []string{"down", "still down", "still down"}) {
			t.Errorf("down for ~23s with renotify 10s: notices %q; want [down, still down, still down]", got)
		}
	})
}

// TestMonitorQuorum runs three nodes sharing their verdicts: the node with
// a bad network alone raises no alert, even as the leader; once a second
// node sees the failure, the leader sends one.
func TestMonitorQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := new(MemoryVerdicts)
		rec := new(recorder)
		sites := map[string]*target{"a": newTarget(503), "b": newTarget(200), "c": newTarget(200)}
		var monitors []*Monitor
		for _, node := range []string{"a", "b", "c"} {
			opts := Options{Node: node, Checks: []Check{testCheck()}, Verdicts: shared, Leader: leader(node == "a"),
				Notifiers: []Notifier{rec}, Transport: sites[node]}
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			monitors = append(monitors, m)
			start(t, m)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for _, m := range monitors {
			if st := m.Status()[0]; st.State != Up || len(st.Nodes) != 3 {
				t.Errorf("node %s: state %v with %d nodes; want up with 3", m.opts.Node, st.State, len(st.Nodes))
			}
		}
		if st := monitors[0].Status()[0]; st.Local != Down {
			t.Errorf("node a's own view = %v; want down", st.Local)
		}
		if got := rec.list(); len(got) != 0 {
			t.Fatalf("one node of three failing: notices %q; want none", states(got))
		}

		sites["b"].down()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := states(rec.list()); !slices.Equal(got, []string{"down"}) {
			t.Fatalf("two nodes of three failing: notices %q; want one [down] from the leader", got)
		}
		if n := rec.list()[0]; len(n.Nodes) != 3 || !strings.Contains(n.Message, "2 of 3 nodes") {
			t.Errorf("notice = %+v; want 2 of 3 nodes down", n)
		}
		for _, m := range monitors {
			if st := m.Status()[0]; st.State != Down {
				t.Errorf("node %s: state %v; want down", m.opts.Node, st.State)
			}
		}
	})
}

// leader is a fixed Leader.
type leader bool

func (l leader) Leader() bool { return bool(l) }

func TestNewMonitorRefuses(t *testing.T) {
	ok := testCheck()
	tests := []struct {
		name string
		opts Options
		msg  string
	}{
		{"no node", Options{Checks: []Check{ok}}, "no node name"},
		{"bad url", Options{Node: "n", Checks: []Check{{Name: "x", URL: "ftp://a/", Interval: time.Second, Timeout: time.Millisecond}}}, "not an http or https URL"},
		{"timeout", Options{Node: "n", Checks: []Check{{Name: "x", URL: "http://a/", Interval: time.Second, Timeout: time.Second}}}, "timeout"},
		{"method", Options{Node: "n", Checks: []Check{{Name: "x", URL: "http://a/", Method: "POST", Interval: time.Second, Timeout: time.Millisecond}}}, "method"},
		{"twice", Options{Node: "n", Checks: []Check{ok, ok}}, "given twice"},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("New(%s) = %v; want an error with %q", tt.name, err, tt.msg)
		}
	}
}

// failing is a Notifier that always fails.
type failing struct{}

func (failing) Notify(context.Context, Notice) error {
	return errors.New("webhook hooks.test: 4 tries: status 503")
}

func TestMonitorFollowerSendsNothingAndFailuresAreLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		rec := new(recorder)
		follower, err := New(Options{Node: "n2", Checks: []Check{testCheck()}, Leader: leader(false), Notifiers: []Notifier{rec}, Transport: newTarget(503)})
		if err != nil {
			t.Fatal(err)
		}
		sender, err := New(Options{Node: "n1", Checks: []Check{testCheck()}, Notifiers: []Notifier{failing{}}, Transport: newTarget(503), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		start(t, follower)
		start(t, sender)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st := follower.Status()[0]; st.State != Down || len(rec.list()) != 0 {
			t.Errorf("follower: state %v, notices %q; want down and nothing sent", st.State, states(rec.list()))
		}
		out := logs.String()
		if !strings.Contains(out, `msg="uptime check down"`) || !strings.Contains(out, `msg="uptime alert not delivered" check=home state=down err="webhook hooks.test: 4 tries: status 503"`) {
			t.Errorf("log = %s; want the state change and the failed delivery", out)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
