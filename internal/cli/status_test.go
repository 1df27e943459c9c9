package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestStatusDatabaseLine: tandem status sums the database up in one line,
// saying plainly when there is no primary or no synchronous standby, and
// prints none for a stack without a database.
func TestStatusDatabaseLine(t *testing.T) {
	member := func(name string, leader bool, lagBytes int64, lagSecs float64) admin.DatabaseMember {
		return admin.DatabaseMember{Name: name, Leader: leader, ReplayLSN: "0/3000000", LagBytes: lagBytes, LagSecs: lagSecs}
	}
	stopped := admin.DatabaseMember{Name: "d", Role: "stopped", ReplayLSN: "0/0", LagBytes: 48 << 20}
	for _, tc := range []struct {
		name string
		db   *admin.DatabaseStatus
		want string // the database line; "" for none
	}{
		{"no database", nil, ""},
		{"healthy", &admin.DatabaseStatus{Leader: "node-a", Primary: "127.0.0.1:5432", SyncStandby: "node-b", Synchronous: true, StoreReachable: true,
			Members: []admin.DatabaseMember{member("node-a", true, 0, 0), member("node-b", false, 2048, 0.02)}},
			"database primary node-a, sync standby node-b, lag 2.0 KiB, 0.0s"},
		{"two standbys", &admin.DatabaseStatus{Leader: "a", Primary: "x:1", SyncStandby: "b", Synchronous: true, StoreReachable: true,
			Members: []admin.DatabaseMember{member("a", true, 0, 0), member("b", false, 10, 0.1), member("c", false, 5<<20, 3.25), stopped}},
			"database primary a, sync standby b, lag 5.0 MiB, 3.2s (c)"},
		{"failing over", &admin.DatabaseStatus{Synchronous: true, StoreReachable: true,
			Members: []admin.DatabaseMember{member("node-b", false, 0, 0)}},
			"database NO PRIMARY (failing over), NO SYNC STANDBY"},
		{"promoting", &admin.DatabaseStatus{Leader: "node-b", Synchronous: true, StoreReachable: true},
			"database primary node-b (promoting: not routed to yet), NO SYNC STANDBY"},
		{"asynchronous, store gone", &admin.DatabaseStatus{Leader: "a", Primary: "x:1", Members: []admin.DatabaseMember{member("a", true, 0, 0)}},
			"database primary a, asynchronous, etcd unreachable: last known state"},
		{"one zone", &admin.DatabaseStatus{Leader: "a", Primary: "x:1", SyncStandby: "b", Synchronous: true, StoreReachable: true, OneZone: "z1",
			Members: []admin.DatabaseMember{member("a", true, 0, 0), member("b", false, 0, 0)}},
			"database primary a, sync standby b, lag 0 B, 0.0s, ALL MEMBERS IN ZONE z1"},
		{"failsafe", &admin.DatabaseStatus{Primary: "x:1", SyncStandby: "b", Synchronous: true, Failsafe: true},
			"database primary at x:1 without a lease, sync standby b, FAILSAFE (primary kept without etcd), etcd unreachable: last known state"},
		{"disk full", &admin.DatabaseStatus{Leader: "b", Primary: "x:2", Synchronous: true, StoreReachable: true,
			Members: []admin.DatabaseMember{member("b", true, 0, 0), {Name: "a", Role: "stopped", ReplayLSN: "0/0", DiskFull: true}}},
			"database primary b, NO SYNC STANDBY, DISK FULL on a"},
	} {
		var buf bytes.Buffer
		now := time.Now()
		printStatus(&buf, admin.Status{Node: "n1", StartedAt: now, Database: tc.db}, now)
		var got string
		for line := range strings.Lines(buf.String()) {
			if strings.HasPrefix(line, "database ") {
				got = strings.TrimSuffix(line, "\n")
			}
		}
		if got != tc.want {
			t.Errorf("%s: database line %q; want %q\n%s", tc.name, got, tc.want, buf.String())
		}
	}
}
