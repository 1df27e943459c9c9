package telemetry

import (
	"strings"
	"testing"
)

// TestDatabaseExposition: the database as a node sees it is read at each
// scrape; a member without a live record has only its up series; a
// standby the primary does not list has a lag in bytes but none in
// seconds; the event counters exist at 0 from the start.
func TestDatabaseExposition(t *testing.T) {
	m := NewMetrics()
	if text := scrape(t, m); strings.Contains(text, "tandem_db_") {
		t.Fatalf("database series before WatchDatabase (a stack without a database):\n%s", grepLines(text, "tandem_db_"))
	}
	sample := DatabaseSample{
		Role: "primary", Synchronous: true, StoreReachable: true, SyncStandby: "b",
		Members: []DatabaseMemberSample{
			{Name: "a", Up: true, Role: "primary", Leader: true, Timeline: 3},
			{Name: "b", Up: true, Role: "standby", Timeline: 3, Standby: true, LagBytes: 8192, LagSeconds: 0.25},
			{Name: "c", Up: true, Role: "starting", Timeline: 2, Standby: true, LagBytes: 1 << 20, LagSeconds: -1},
			{Name: "d"},
		},
		Endpoints: []DatabaseEndpointSample{
			{Endpoint: "primary", Routed: true, Open: 5, Relaying: 4, Held: 1, Accepted: 100, Relayed: 98,
				BytesToServer: 2048, BytesToClient: 4096, RefusedNoTarget: 2, RefusedFull: 3, BadStartup: 4, Severed: 7, Cancels: 1},
			{Endpoint: "standby"},
		},
	}
	if err := m.WatchDatabase(func() DatabaseSample { return sample }); err != nil {
		t.Fatal(err)
	}
	m.DatabaseLeaderChanged("failover")
	m.DatabaseLeaderChanged("failover")
	m.DatabaseDemoted()
	text := scrape(t, m)
	for _, want := range []string{
		`tandem_db_role{role="primary"} 1`,
		"tandem_db_synchronous 1",
		"tandem_db_store_reachable 1",
		"tandem_db_failsafe 0",
		"tandem_db_sync_standbys 1",
		`tandem_db_member_up{member="a"} 1`,
		`tandem_db_member_up{member="d"} 0`,
		`tandem_db_member_role{member="a",role="primary"} 1`,
		`tandem_db_member_role{member="c",role="starting"} 1`,
		`tandem_db_leader{member="a"} 1`,
		`tandem_db_leader{member="b"} 0`,
		`tandem_db_member_timeline{member="c"} 2`,
		`tandem_db_replication_lag_bytes{member="b"} 8192`,
		`tandem_db_replication_lag_bytes{member="c"} 1.048576e+06`,
		`tandem_db_replication_lag_seconds{member="b"} 0.25`,
		"# TYPE tandem_db_leader_changes_total counter",
		`tandem_db_leader_changes_total{kind="bootstrap"} 0`,
		`tandem_db_leader_changes_total{kind="failover"} 2`,
		`tandem_db_leader_changes_total{kind="switchover"} 0`,
		"tandem_db_demotions_total 1",
		`tandem_db_endpoint_routed{endpoint="primary"} 1`,
		`tandem_db_endpoint_routed{endpoint="standby"} 0`,
		`tandem_db_endpoint_connections{endpoint="primary"} 5`,
		`tandem_db_endpoint_connections_relaying{endpoint="primary"} 4`,
		`tandem_db_endpoint_connections_held{endpoint="primary"} 1`,
		"# TYPE tandem_db_endpoint_accepted_total counter",
		`tandem_db_endpoint_accepted_total{endpoint="primary"} 100`,
		`tandem_db_endpoint_relayed_total{endpoint="primary"} 98`,
		`tandem_db_endpoint_bytes_total{direction="to_server",endpoint="primary"} 2048`,
		`tandem_db_endpoint_bytes_total{direction="to_client",endpoint="primary"} 4096`,
		`tandem_db_endpoint_refused_total{endpoint="primary",reason="no_target"} 2`,
		`tandem_db_endpoint_refused_total{endpoint="primary",reason="full"} 3`,
		`tandem_db_endpoint_refused_total{endpoint="primary",reason="bad_startup"} 4`,
		`tandem_db_endpoint_severed_total{endpoint="primary"} 7`,
		`tandem_db_endpoint_cancels_total{endpoint="primary"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, absent := range []string{
		`tandem_db_leader{member="d"}`,                    // not up: no record to read
		`tandem_db_member_role{member="d"`,                // likewise
		`tandem_db_replication_lag_bytes{member="a"}`,     // the primary
		`tandem_db_replication_lag_seconds{member="c"}`,   // not listed by the primary
		`tandem_db_replication_lag_seconds{member="a"}`,   // the primary
		`tandem_db_member_timeline{member="d"}`,           // not up
		`tandem_db_endpoint_connections{endpoint="none"}`, // sanity: only the endpoints sampled
	} {
		if strings.Contains(text, absent) {
			t.Errorf("/metrics has %q; want it absent", absent)
		}
	}

	// A failover seen from a node without a member: no role, no leader,
	// the store unreachable; the next scrape reads the sample again.
	sample = DatabaseSample{Synchronous: true, Members: []DatabaseMemberSample{
		{Name: "a"}, {Name: "b", Up: true, Role: "standby", Timeline: 3, LagSeconds: -1},
	}, Endpoints: []DatabaseEndpointSample{{Endpoint: "primary", Held: 3}}}
	text = scrape(t, m)
	for _, want := range []string{
		"tandem_db_store_reachable 0",
		"tandem_db_sync_standbys 0",
		`tandem_db_member_up{member="a"} 0`,
		`tandem_db_leader{member="b"} 0`,
		`tandem_db_endpoint_routed{endpoint="primary"} 0`,
		`tandem_db_endpoint_connections_held{endpoint="primary"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("second scrape: /metrics lacks %q", want)
		}
	}
	for _, absent := range []string{"tandem_db_role{", `tandem_db_replication_lag_bytes{member="b"}`, `endpoint="standby"`} {
		if strings.Contains(text, absent) {
			t.Errorf("second scrape: /metrics has %q; want it absent", absent)
		}
	}
	if err := m.WatchDatabase(func() DatabaseSample { return DatabaseSample{} }); err == nil {
		t.Error("a second database collector was registered; want an error")
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
