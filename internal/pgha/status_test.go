package pgha

import "testing"

func TestRoutes(t *testing.T) {
	members := map[string]MemberRecord{
		"a": {Name: "a", Zone: "z1", Addr: "10.0.0.1:5432", State: "primary"},
		"b": {Name: "b", Zone: "z2", Addr: "10.0.0.2:5432", State: "standby", Streaming: true, Upstream: "a", Replay: 90},
		"c": {Name: "c", Zone: "z3", Addr: "10.0.0.3:5432", State: "standby", Streaming: true, Upstream: "a", Replay: 100},
	}
	addrs := map[string]string{"a": "10.0.0.1:5432"}
	tests := []struct {
		name string
		v    View
		zone string
		want Routes
	}{
		{"leader running", View{Leader: "a", Members: members}, "z2", Routes{Primary: "10.0.0.1:5432", Standby: "10.0.0.2:5432", Site: "10.0.0.2:5432"}},
		{"most advanced standby elsewhere", View{Leader: "a", Members: members}, "z9", Routes{Primary: "10.0.0.1:5432", Standby: "10.0.0.3:5432", Site: "10.0.0.3:5432"}},
		{"leader not running yet", View{Leader: "b", Members: members}, "z1", Routes{Standby: "10.0.0.3:5432", Site: "10.0.0.3:5432"}},
		{"no leader: failing over", View{Members: map[string]MemberRecord{"b": {Name: "b", State: "standby", Addr: "x"}}}, "z1", Routes{}},
		{"no leader, sync standby streams from the old leader: failsafe",
			View{Sync: SyncKey{Leader: "a", Standby: "b"}, Members: map[string]MemberRecord{"b": members["b"]}}, "z1",
			Routes{Primary: "10.0.0.1:5432", Standby: "10.0.0.2:5432", Site: "10.0.0.2:5432"}},
		{"no standby streams: the site's connections go to the primary",
			View{Leader: "a", Members: map[string]MemberRecord{"a": members["a"]}}, "z2", Routes{Primary: "10.0.0.1:5432", Site: "10.0.0.1:5432"}},
	}
	for _, tc := range tests {
		if got := routesOf(tc.v, place{zone: tc.zone}, addrs); got != tc.want {
			t.Errorf("%s: routesOf = %+v; want %+v", tc.name, got, tc.want)
		}
	}
}

// TestRoutesSite: a node's site database is its site's standby while the
// primary runs in another site, and the primary once it runs in the
// node's own site (an emergency promoted the site's standby).
func TestRoutesSite(t *testing.T) {
	members := map[string]MemberRecord{
		"home-1":  {Name: "home-1", Zone: "h", Site: "home", Addr: "10.1.0.1:5432", State: "primary"},
		"home-2":  {Name: "home-2", Zone: "h", Site: "home", Addr: "10.1.0.2:5432", State: "standby", Streaming: true, Replay: 100},
		"cloud-1": {Name: "cloud-1", Zone: "c1", Site: "cloud", Addr: "10.2.0.1:5432", State: "standby", Streaming: true, Replay: 90},
	}
	tests := []struct {
		name  string
		v     View
		where place
		want  string
	}{
		{"a follower site's node: its site's standby", View{Leader: "home-1", Members: members}, place{"c2", "cloud"}, "10.2.0.1:5432"},
		{"a leader site's node: the primary", View{Leader: "home-1", Members: members}, place{"h", "home"}, "10.1.0.1:5432"},
		{"no sites: the nearest standby", View{Leader: "home-1", Members: members}, place{zone: "h"}, "10.1.0.2:5432"},
	}
	promoted := map[string]MemberRecord{"cloud-1": {Name: "cloud-1", Zone: "c1", Site: "cloud", Addr: "10.2.0.1:5432", State: "primary"},
		"home-2": members["home-2"]}
	tests = append(tests, struct {
		name  string
		v     View
		where place
		want  string
	}{"an emergency: the site's promoted primary", View{Leader: "cloud-1", Members: promoted}, place{"c2", "cloud"}, "10.2.0.1:5432"})
	for _, tc := range tests {
		if got := routesOf(tc.v, tc.where, nil).Site; got != tc.want {
			t.Errorf("%s: routesOf(...).Site = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestStatusLag: a standby's lag is the leader's LSN less its replay
// position; a member that has replayed nothing yet (stopped, starting)
// shows none rather than the leader's whole WAL.
func TestStatusLag(t *testing.T) {
	v := View{Leader: "a", Members: map[string]MemberRecord{
		"a": {Name: "a", State: "primary", LSN: 5000},
		"b": {Name: "b", State: "standby", Replay: 4000},
		"c": {Name: "c", State: "stopped"},
	}}
	st := buildStatus("a", place{zone: "z1"}, true, Local{}, v, true, false)
	want := map[string]int64{"a": 0, "b": 1000, "c": 0}
	for _, ms := range st.Members {
		if ms.LagBytes != want[ms.Name] {
			t.Errorf("%s: LagBytes = %d; want %d", ms.Name, ms.LagBytes, want[ms.Name])
		}
	}
}
