package admin

import (
	"maps"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/headless"
)

// TestPageDatabase: with a database in the node's status, the page shows
// its section: the primary and the synchronous standby, a row per member
// with its role and lag, where this node's endpoints route, and the
// warnings that apply; while failing over it says there is no primary.
func TestPageDatabase(t *testing.T) {
	type want struct {
		primary  string            // #database-primary's text
		roles    map[string]string // member -> data-role
		lag      map[string]string // member -> data-lag-bytes
		warnings []string          // data-warning values, in order
		write    string            // the routes' data-write
	}
	healthy := &DatabaseStatus{Node: "n1", Role: "standby", Leader: "node-a", LeaderCause: "failover from node-c", SyncStandby: "node-b",
		Synchronous: true, StoreReachable: false, Primary: "127.0.0.1:5432", Standby: "127.0.0.2:5432", Error: "rewind: <b>diverged</b>",
		Members: []DatabaseMember{
			{Name: "node-a", Zone: "a", Addr: "127.0.0.1:5432", Role: "primary", Leader: true, Timeline: 3, LSN: "0/3000148", ReplayLSN: "0/3000148"},
			{Name: "node-b", Zone: "b", Addr: "127.0.0.2:5432", Role: "standby", Timeline: 3, LSN: "0/3000148", ReplayLSN: "0/3000100",
				LagBytes: 72, LagSecs: 0.004, Sync: "sync", Streaming: true},
			{Name: "node-c", Zone: "c", Addr: "127.0.0.3:5432", Role: "starting", Timeline: 2, LSN: "0/2000000", ReplayLSN: "0/2000000",
				LagBytes: 16777544},
		}}
	failing := &DatabaseStatus{Node: "n1", Synchronous: true, StoreReachable: true,
		Members: []DatabaseMember{{Name: "node-b", Zone: "b", Role: "standby", Timeline: 3, LSN: "0/3000148", ReplayLSN: "0/3000148"}}}
	failsafe := &DatabaseStatus{Node: "n1", Role: "primary", SyncStandby: "node-b", Synchronous: true, Failsafe: true, Primary: "127.0.0.1:5432",
		Members: []DatabaseMember{{Name: "node-a", Role: "primary", Timeline: 3}, {Name: "node-b", Role: "standby", Timeline: 3, Sync: "sync", Streaming: true}}}
	alone := &DatabaseStatus{Node: "n1", Leader: "node-a", Synchronous: true, StoreReachable: true, Primary: "127.0.0.1:5432",
		Members: []DatabaseMember{{Name: "node-a", Role: "primary", Leader: true, Timeline: 1},
			{Name: "node-b", Role: "standby", Timeline: 1, ReplayLSN: "0/1000000", LagBytes: 900},
			{Name: "node-c", Role: "stopped", ReplayLSN: "0/0", LagBytes: 50 << 20}}}
	for _, tc := range []struct {
		name string
		db   *DatabaseStatus
		want want
	}{
		{"healthy, store unreachable, an error", healthy, want{
			primary:  "node-a",
			roles:    map[string]string{"node-a": "primary", "node-b": "standby", "node-c": "starting"},
			lag:      map[string]string{"node-b": "72", "node-c": "16777544"},
			warnings: []string{"store", "error"},
			write:    "127.0.0.1:5432",
		}},
		{"failing over", failing, want{
			primary:  "failing over: no primary",
			roles:    map[string]string{"node-b": "standby"},
			lag:      map[string]string{},
			warnings: nil,
			write:    "",
		}},
		{"failsafe", failsafe, want{
			primary:  "127.0.0.1:5432",
			roles:    map[string]string{"node-a": "primary", "node-b": "standby"},
			lag:      map[string]string{},
			warnings: []string{"failsafe", "store"},
			write:    "127.0.0.1:5432",
		}},
		{"no synchronous standby", alone, want{
			primary:  "node-a",
			roles:    map[string]string{"node-a": "primary", "node-b": "standby", "node-c": "stopped"},
			lag:      map[string]string{"node-b": "900"},
			warnings: []string{"no-sync"},
			write:    "127.0.0.1:5432",
		}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			b := headless.ForTest(t)
			_, base := startFakeNodeWith(t, tc.db)
			p := loadPage(t, b, base+"/#"+url.Values{"token": {browserToken}}.Encode())
			if isHidden(t, p, "database-section") {
				t.Fatal("#database-section hidden with a database in the status; want it shown")
			}
			if got, _ := p.Text("database-primary"); got != tc.want.primary {
				t.Errorf("#database-primary = %q; want %q", got, tc.want.primary)
			}
			roles, lag := map[string]string{}, map[string]string{}
			for _, e := range p.Elements("data-member") {
				roles[e["data-member"]] = e["data-role"]
				if v, ok := e["data-lag-bytes"]; ok {
					lag[e["data-member"]] = v
				}
			}
			if !maps.Equal(roles, tc.want.roles) || !maps.Equal(lag, tc.want.lag) {
				t.Errorf("member rows: roles %v, lag %v; want %v, %v", roles, lag, tc.want.roles, tc.want.lag)
			}
			var warnings []string
			for _, e := range p.Elements("data-warning") {
				warnings = append(warnings, e["data-warning"])
			}
			if strings.Join(warnings, ",") != strings.Join(tc.want.warnings, ",") {
				t.Errorf("warnings %v; want %v", warnings, tc.want.warnings)
			}
			for _, e := range p.Elements("id") {
				if e["id"] == "database-routes" && e["data-write"] != tc.want.write {
					t.Errorf("routes data-write %q; want %q", e["data-write"], tc.want.write)
				}
			}
			if strings.Contains(p.DOM, "<b>diverged</b>") {
				t.Error("the member's error was inserted as markup; want it as text")
			}
			if os.Getenv("TANDEM_TEST_ARTIFACTS") != "" {
				shot := headless.ArtifactPath(t, "statuspage-database-"+t.Name()[len("TestPageDatabase/"):]+".png")
				if p, err := b.Screenshot(t.Context(), base+"/#"+url.Values{"token": {browserToken}}.Encode(), shot); err != nil {
					t.Errorf("%v\n%s", err, p.Log)
				}
			}
		})
	}
}
