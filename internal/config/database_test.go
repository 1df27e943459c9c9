package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDatabaseAbsent(t *testing.T) {
	for _, src := range []string{base, base + "database:\n", base + "database: ~\n"} {
		st, err := parse(t, src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if st.Database != nil {
			t.Errorf("Parse(%q).Database = %+v; want nil: no database runs", src, st.Database)
		}
	}
}

func TestDatabaseDefaults(t *testing.T) {
	st, err := parse(t, "cluster: { node: n1, name: my-wiki }\napps: { web: { command: [x] } }\ndatabase:\n  postgres: { members: [n1, n2] }\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &Postgres{
		Members: []string{"n1", "n2"}, Synchronous: true, Port: 5432, TTL: Duration(3 * time.Second),
		Database: "my_wiki", User: "my_wiki", CrossSite: CrossSiteAsync,
		Endpoint:     PostgresEndpoint{Listen: "127.0.0.1:6432", Hold: Duration(5 * time.Second), MaxConnections: 500},
		ReadEndpoint: PostgresEndpoint{Listen: "127.0.0.1:6433", Hold: Duration(5 * time.Second), MaxConnections: 500},
		SiteEndpoint: PostgresEndpoint{Listen: "127.0.0.1:6434", Hold: Duration(5 * time.Second), MaxConnections: 500},
	}
	if got := st.Database.Postgres; !reflect.DeepEqual(got, want) {
		t.Errorf("database.postgres = %+v;\nwant %+v", got, want)
	}
}

func TestDatabaseFull(t *testing.T) {
	st, err := parse(t, base+`database:
  postgres:
    members: [node-a, node-b.example, c3]
    synchronous: true
    strict: true
    port: 15432
    ttl: 5s
    database: wiki
    user: wiki_app
    endpoint: { listen: "localhost:7432", hold: 0s, max_connections: 50 }
    read_endpoint: { listen: "off" }
    parameters:
      shared_buffers: 256MB
      work_mem: "16MB"
      max_connections: 200
      synchronous_commit: remote_apply
      pg_stat_statements.max: "5000"
      shared_preload_libraries: pg_stat_statements
      max_wal_senders: 10
`)
	if err != nil {
		t.Fatal(err)
	}
	p := st.Database.Postgres
	if !p.Strict || p.Port != 15432 || p.TTL != Duration(5*time.Second) || p.Database != "wiki" || p.User != "wiki_app" ||
		p.Endpoint != (PostgresEndpoint{Listen: "localhost:7432", MaxConnections: 50}) || p.ReadEndpoint.Listen != "" ||
		len(p.Members) != 3 || p.Parameters["max_connections"] != "200" || p.Parameters["pg_stat_statements.max"] != "5000" {
		t.Errorf("database.postgres = %+v; want it as written, read endpoint off", p)
	}
}

// TestDatabaseOneMember: one member is allowed (development), but not
// strict, where every commit would wait forever.
func TestDatabaseOneMember(t *testing.T) {
	if _, err := parse(t, base+"database: { postgres: { members: [n1] } }\n"); err != nil {
		t.Errorf("one member: %v; want it accepted", err)
	}
	_, err := parse(t, base+"database: { postgres: { members: [n1], strict: true } }\n")
	if err == nil || !strings.Contains(err.Error(), "database.postgres.strict: needs at least two members") {
		t.Errorf("one strict member: %v; want database.postgres.strict refused", err)
	}
}

func TestDatabaseProblems(t *testing.T) {
	const pg = "database:\n  postgres:\n    members: [n1, n2]\n"
	tests := []struct{ src, path, msg string }{
		{"database: {}\n", "database.postgres", "required in a database section"},
		{"database: { mysql: {} }\n", "database.mysql", "unknown field"},
		{"database: { postgres: {} }\n", "database.postgres.members", "required"},
		{"database: { postgres: { members: [] } }\n", "database.postgres.members", "required"},
		{"database: { postgres: { members: n1 } }\n", "database.postgres.members", "must be a list"},
		{"database: { postgres: { members: [n1, \"a b\"] } }\n", "database.postgres.members[1]", "must be the cluster.node of a node"},
		{"database: { postgres: { members: [n1, Node_B] } }\n", "database.postgres.members[1]", "lower-case letters, digits, '-' and '.'"},
		{"database: { postgres: { members: [n1, n2, n1] } }\n", "database.postgres.members[2]", `"n1" is also members[0]`},
		{"database: { postgres: { members: [" + strings.Repeat("n,", MaxPostgresMembers) + "n] } }\n", "database.postgres.members", "at most 16 members"},
		{pg + "    strict: true\n    synchronous: false\n", "database.postgres.strict", "needs synchronous: true"},
		{pg + "    synchronous: maybe\n", "database.postgres.synchronous", "expected true or false"},
		{pg + "    port: 0\n", "database.postgres.port", "must be >= 1"},
		{pg + "    port: 7070\n", "database.postgres.port", "also the port of admin.listen"},
		{pg + "    port: 7379\n", "database.postgres.port", "also the port of cluster.client_port"},
		{pg + "    port: 6432\n", "database.postgres.port", "also the port of database.postgres.endpoint.listen"},
		{pg + "    ttl: 500ms\n", "database.postgres.ttl", "must be >= 2s and <= 1m, got 500ms"},
		{pg + "    ttl: 1s\n", "database.postgres.ttl", "must be >= 2s and <= 1m, got 1s"},
		{pg + "    ttl: 2m\n", "database.postgres.ttl", "must be >= 2s"},
		{pg + "    ttl: 3\n", "database.postgres.ttl", "has no unit"},
		{pg + "    database: Wiki\n", "database.postgres.database", "must be lower-case letters"},
		{pg + "    database: wiki-db\n", "database.postgres.database", "must be lower-case letters"},
		{pg + "    database: " + strings.Repeat("d", 64) + "\n", "database.postgres.database", "at most 63 characters"},
		{pg + "    database: template1\n", "database.postgres.database", "reserved"},
		{pg + "    user: postgres\n", "database.postgres.user", `"postgres" is reserved`},
		{pg + "    user: pg_monitor\n", "database.postgres.user", "reserved"},
		{pg + "    user: replicator\n", "database.postgres.user", "reserved"},
		{pg + "    user: \"1app\"\n", "database.postgres.user", "not starting with a digit"},
		{pg + "    endpoint: { listen: \":6432\" }\n", "database.postgres.endpoint.listen", "must be a loopback address"},
		{pg + "    endpoint: { listen: \"10.0.0.5:6432\" }\n", "database.postgres.endpoint.listen", "plain TCP"},
		{pg + "    endpoint: { listen: \"off\" }\n", "database.postgres.endpoint.listen", "must be host:port"},
		{pg + "    endpoint: { listen: \"6432\" }\n", "database.postgres.endpoint.listen", `did you mean ":6432"?`},
		{pg + "    endpoint: { listen: \"127.0.0.1:8080\" }\n", "database.postgres.endpoint.listen", "same address as edge.listen"},
		{pg + "    read_endpoint: { listen: \"127.0.0.1:6432\" }\n", "database.postgres.read_endpoint.listen", "same address as database.postgres.endpoint.listen"},
		{pg + "    endpoint: { hold: -1s }\n", "database.postgres.endpoint.hold", "must be >= 0"},
		{pg + "    read_endpoint: { hold: 2m }\n", "database.postgres.read_endpoint.hold", "<= 1m, got 2m"},
		{pg + "    endpoint: { max_connections: 0 }\n", "database.postgres.endpoint.max_connections", "must be >= 1"},
		{pg + "    endpoint: { max_connections: 100001 }\n", "database.postgres.endpoint.max_connections", "must be <= 100000"},
		{pg + "    endpoint: { lisen: x }\n", "database.postgres.endpoint.lisen", `did you mean "listen"?`},
		{pg + "    parameters: { port: \"5433\" }\n", "database.postgres.parameters.port", "set by tandem"},
		{pg + "    parameters: { listen_addresses: \"*\" }\n", "database.postgres.parameters.listen_addresses", "set by tandem"},
		{pg + "    parameters: { hba_file: /tmp/x }\n", "database.postgres.parameters.hba_file", "set by tandem"},
		{pg + "    parameters: { synchronous_standby_names: \"*\" }\n", "database.postgres.parameters.synchronous_standby_names", "set by tandem"},
		{pg + "    parameters: { primary_conninfo: x }\n", "database.postgres.parameters.primary_conninfo", "set by tandem"},
		{pg + "    parameters: { archive_command: \"cp %p /x\" }\n", "database.postgres.parameters.archive_command", "set by tandem"},
		{pg + "    parameters: { ssl_ciphers: HIGH }\n", "database.postgres.parameters.ssl_ciphers", "set by tandem"},
		{pg + "    parameters: { data_directory: /x }\n", "database.postgres.parameters.data_directory", "set by tandem"},
		{pg + "    parameters: { recovery_target_time: x }\n", "database.postgres.parameters.recovery_target_time", "set by tandem"},
		{pg + "    parameters: { include: /etc/evil.conf }\n", "database.postgres.parameters.include", "set by tandem"},
		{pg + "    parameters: { Shared_Buffers: 1GB }\n", "database.postgres.parameters.Shared_Buffers", "not a PostgreSQL setting name"},
		{pg + "    parameters: { \"work mem\": 1MB }\n", "database.postgres.parameters.work mem", "not a PostgreSQL setting name"},
		{pg + "    parameters: { work_mem: \"1MB\\nport = 1\" }\n", "database.postgres.parameters.work_mem", "line breaks"},
		{pg + "    parameters: { work_mem: [1MB] }\n", "database.postgres.parameters.work_mem", "expected a string, got a list"},
		{pg + "    parameters: { work_mem: \"" + strings.Repeat("x", maxParameterValue+1) + "\" }\n", "database.postgres.parameters.work_mem", "longer than 4096 bytes"},
		{pg + "    parameters: { synchronous_commit: local }\n", "database.postgres.parameters.synchronous_commit", "would acknowledge commits no standby has"},
		{pg + "    parameters: { synchronous_commit: \"off\" }\n", "database.postgres.parameters.synchronous_commit", "would acknowledge"},
		{pg + "    parameters: { synchronous_commit: \"0\" }\n", "database.postgres.parameters.synchronous_commit", "would acknowledge"},
		{pg + "    parameters: { fsync: \"false\" }\n", "database.postgres.parameters.fsync", "corrupt"},
		{pg + "    parameters: { fsync: \"n\" }\n", "database.postgres.parameters.fsync", "corrupt"},
		{pg + "    parameters: { max_wal_senders: \"2\" }\n", "database.postgres.parameters.max_wal_senders", "must be an integer >= 3 for 2 members"},
		{pg + "    parameters: { max_replication_slots: lots }\n", "database.postgres.parameters.max_replication_slots", "must be an integer"},
	}
	for _, tt := range tests {
		_, err := parse(t, base+tt.src)
		if err == nil {
			t.Errorf("Parse(%q) = nil; want %s: %s", tt.src, tt.path, tt.msg)
			continue
		}
		found := false
		for _, p := range problems(t, err) {
			if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) && p.Line > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("Parse(%q) =\n%v\nwant %s: ...%s...", tt.src, err, tt.path, tt.msg)
		}
	}
}

// TestDatabaseDerivedNames: the default names come from the cluster's,
// and a derived name that cannot be used says which field to set.
func TestDatabaseDerivedNames(t *testing.T) {
	for _, tc := range []struct{ cluster, want, err string }{
		{"tandem", "tandem", ""},
		{"shop-eu-1", "shop_eu_1", ""},
		{"42-shop", "db_42_shop", ""},
		{"postgres", "", `database.postgres.database: "postgres" (derived from cluster.name; set database) is reserved`},
	} {
		src := fmt.Sprintf("cluster: { node: n1, name: %s }\napps: { web: { command: [x] } }\ndatabase: { postgres: { members: [n1] } }\n", tc.cluster)
		st, err := parse(t, src)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("cluster %q: %v", tc.cluster, err)
		case tc.err == "" && (st.Database.Postgres.Database != tc.want || st.Database.Postgres.User != tc.want):
			t.Errorf("cluster %q: database %q, user %q; want %q", tc.cluster, st.Database.Postgres.Database, st.Database.Postgres.User, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("cluster %q: %v; want %s", tc.cluster, err, tc.err)
		}
	}
	// A bad cluster name is reported once, not again through the names.
	_, err := parse(t, "cluster: { node: n1, name: My Wiki }\napps: { web: { command: [x] } }\ndatabase: { postgres: { members: [n1] } }\n")
	if ps := problems(t, err); len(ps) != 1 || ps[0].Path != "cluster.name" {
		t.Errorf("bad cluster name: %v; want only cluster.name", err)
	}
}

func TestIsPostgresOwned(t *testing.T) {
	for name, want := range map[string]bool{
		"port": true, "PORT": true, "ssl": true, "ssl_cert_file": true, "archive_mode": true, "recovery_target_lsn": true,
		"synchronous_standby_names": true, "wal_level": true, "listen_addresses": true, "include_dir": true,
		"work_mem": false, "shared_buffers": false, "synchronous_commit": false, "portal": false, "max_wal_senders": false, "wal_receiver_timeout": true, "unix_socket_group": true,
	} {
		if got := IsPostgresOwned(name); got != want {
			t.Errorf("IsPostgresOwned(%q) = %v; want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{"postgres": true, "pg_read_all_data": true, "replicator": true, "wiki": false, "tandem": false} {
		if got := PostgresRoleReserved(name); got != want {
			t.Errorf("PostgresRoleReserved(%q) = %v; want %v", name, got, want)
		}
	}
}

// TestDatabaseHostile: a parameters mapping too large to be real is
// refused with one message, not one per entry.
func TestDatabaseHostile(t *testing.T) {
	var b strings.Builder
	b.WriteString(base + "database:\n  postgres:\n    members: [n1]\n    parameters:\n")
	for i := range maxPostgresParameters + 1 {
		fmt.Fprintf(&b, "      p%d: x\n", i)
	}
	_, err := parse(t, b.String())
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Path != "database.postgres.parameters" || !strings.Contains(ps[0].Msg, "at most 200 parameters") {
		t.Errorf("201 parameters: %v; want one problem at database.postgres.parameters", err)
	}
}
