package cluster

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPickLeader(t *testing.T) {
	members := []Member{
		{Name: "a", ID: "1", Healthy: true},
		{Name: "b", ID: "2", Healthy: true},
		{Name: "c", ID: "3", Healthy: true},
		{Name: "d", ID: "4", Healthy: false},
		{Name: "e", ID: "5", Healthy: true, Learner: true},
	}
	for _, tc := range []struct {
		self  string
		avoid []string
		want  string
	}{
		{"a", nil, "b"},
		{"a", []string{"a", "b"}, "c"},
		{"a", []string{"a", "b", "c"}, "b"}, // every other avoided: any healthy voter
		{"c", []string{"a", "b"}, "a"},
	} {
		got := pickLeader(members, tc.self, tc.avoid)
		if got == nil || got.Name != tc.want {
			t.Errorf("pickLeader(self %s, avoid %v) = %v; want %s", tc.self, tc.avoid, got, tc.want)
		}
	}
	if got := pickLeader(members[:1], "a", nil); got != nil {
		t.Errorf("pickLeader with no other member = %v; want nil", got)
	}
}

// TestAvoidLeader: a node that asks not to lead etcd while it leads hands
// the leadership to another member, one not named in LeaderElsewhere.
func TestAvoidLeader(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	avoid := map[string]*atomic.Bool{"a": {}, "b": {}, "c": {}}
	setup := func(name string) func(*Cluster) {
		return func(c *Cluster) {
			c.opts.AvoidLeader = avoid[name].Load
			c.opts.LeaderElsewhere = func() []string { return []string{"a", "b"} }
		}
	}
	a := openNode(t, testOptions(t, "a", "127.0.0.1"), setup("a"))
	token, err := a.CreateJoinToken(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*testNode{"a": a}
	for _, n := range []struct{ name, ip string }{{"b", "127.0.0.2"}, {"c", "127.0.0.3"}} {
		opts := testOptions(t, n.name, n.ip)
		opts.Join = token
		nodes[n.name] = openNode(t, opts, setup(n.name))
	}
	wantMembers(t, a, []string{"a", "b", "c"}, 3)
	waitFor(t, 10*time.Second, "a leader", func() bool { return a.Health().Leader != "" })
	first := a.Health().Leader
	if first == "c" {
		// Make c step down through a, then ask c not to lead.
		avoid["c"].Store(true)
		waitFor(t, 15*time.Second, "the leadership off c", func() bool { l := a.Health().Leader; return l != "" && l != "c" })
		avoid["c"].Store(false)
		first = a.Health().Leader
	}
	avoid[first].Store(true)
	waitFor(t, 15*time.Second, "the leadership on c, the member not named elsewhere", func() bool {
		return nodes["c"].Health().Leader == "c"
	})
}
