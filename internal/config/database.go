package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Database is the database tandem runs for the apps. Stack.Database is nil
// when the stack file has no database section: then nothing of PostgreSQL
// runs and apps get no DATABASE_URL.
type Database struct {
	// Postgres is the PostgreSQL cluster; never nil after validation.
	Postgres *Postgres `yaml:"postgres"`
}

// Postgres is a PostgreSQL cluster of a primary and standbys on the member
// nodes, failed over through etcd, reached by apps through the database
// endpoint every node runs.
type Postgres struct {
	// Members are the names (cluster.node) of the nodes that run a
	// PostgreSQL server, in the order of the file; 1 to MaxPostgresMembers,
	// no repeats, each lower-case letters, digits, '-' and '.'. One member is for development: it has no standby and
	// nothing to fail over to. Members should be in two zones or more;
	// the nodes' zones are known only at run time, where the database's
	// status warns when every member shares one.
	Members []string `yaml:"members"`
	// Synchronous makes the primary wait for a standby to have every
	// commit before acknowledging it; default true. Without it a failover
	// may lose the last acknowledged commits.
	Synchronous bool `yaml:"synchronous"`
	// Strict refuses commits while no synchronous standby is connected,
	// rather than going on alone; default false. Needs Synchronous and at
	// least two members.
	Strict bool `yaml:"strict"`
	// Port is PostgreSQL's own port on member nodes; default 5432.
	Port int `yaml:"port"`
	// TTL is the leader lease: a primary that cannot renew it within TTL
	// steps down, and a standby may take over once it expires. 1s to 1m;
	// default 3s.
	TTL Duration `yaml:"ttl"`
	// Database is the database apps use; default the cluster name with '-'
	// written '_' (prefixed "db_" if it starts with a digit).
	Database string `yaml:"database"`
	// User is the role apps log in as; default derived like Database.
	User string `yaml:"user"`
	// Endpoint is the address apps reach the primary at (DATABASE_URL).
	Endpoint PostgresEndpoint `yaml:"endpoint"`
	// ReadEndpoint is the address apps reach a standby at, read-only
	// (DATABASE_READ_URL). Its Listen is "" when the file says "off".
	ReadEndpoint PostgresEndpoint `yaml:"read_endpoint"`
	// SiteEndpoint is the address a follower site's instances of an app
	// with reads: local reach their site's database at (their
	// DATABASE_URL): its standby, or its primary in an emergency. It is
	// bound only on the nodes that run such an app.
	SiteEndpoint PostgresEndpoint `yaml:"site_endpoint"`
	// Parameters are PostgreSQL settings (postgresql.conf names, lower
	// case) written on every member as given; nil when none. The settings
	// tandem owns (IsPostgresOwned) are refused.
	Parameters map[string]string `yaml:"parameters"`
	// CrossSite is how replication crosses sites (a sites section):
	// CrossSiteAsync (default) keeps the synchronous standby in the
	// primary's site, so a commit waits for no slow site link, and an
	// emergency promotion may lose what the follower site had not
	// received; CrossSiteSync makes a standby in another site the
	// synchronous one: no commit is lost, every commit waits for the link.
	CrossSite string `yaml:"cross_site"`
	// Bootstrap, if set, makes the member that creates the cluster
	// restore a backup rather than start an empty database; nil when the
	// file has none.
	Bootstrap *PostgresBootstrap `yaml:"bootstrap"`
}

// Values of Postgres.CrossSite.
const (
	CrossSiteAsync = "async"
	CrossSiteSync  = "sync"
)

// PostgresEndpoint is one of a node's local database endpoints.
type PostgresEndpoint struct {
	// Listen is a loopback host:port; default "127.0.0.1:6432" for the
	// endpoint, "127.0.0.1:6433" for the read endpoint, "127.0.0.1:6434"
	// for the site endpoint.
	Listen string `yaml:"listen"`
	// Hold is how long a new connection waits for a server while there is
	// none (failing over) before it is refused with SQLSTATE 57P03; 0 to
	// 1m, default 5s.
	Hold Duration `yaml:"hold"`
	// MaxConnections caps the endpoint's open client connections;
	// 1 to 100000, default 500.
	MaxConnections int `yaml:"max_connections"`
}

// Limits of the database section.
const (
	MaxPostgresMembers    = 16
	maxPostgresParameters = 200
	maxParameterValue     = 4096
	maxEndpointConns      = 100_000
	minPostgresTTL        = Duration(2 * time.Second) // etcd grants no shorter lease
	maxPostgresTTL        = Duration(time.Minute)
	maxEndpointHold       = Duration(time.Minute)
)

func (p *Postgres) setDefaults() {
	p.Synchronous = true
	p.Port = 5432
	p.TTL = Duration(3 * time.Second)
	p.CrossSite = CrossSiteAsync
	p.Endpoint = PostgresEndpoint{Listen: "127.0.0.1:6432", Hold: Duration(5 * time.Second), MaxConnections: 500}
	p.ReadEndpoint = PostgresEndpoint{Listen: "127.0.0.1:6433", Hold: Duration(5 * time.Second), MaxConnections: 500}
	p.SiteEndpoint = PostgresEndpoint{Listen: "127.0.0.1:6434", Hold: Duration(5 * time.Second), MaxConnections: 500}
}

// PostgresOwnedParameters are the PostgreSQL settings tandem sets itself
// on every member, so the stack file may not: where it listens, where its
// files are, replication, recovery, archiving (the backup part owns it),
// TLS (the cluster's CA), and the settings rewind and standbys depend on.
// A name ending in "*" stands for every name with that prefix. The driver
// that writes the members' configuration and this check share the list.
var PostgresOwnedParameters = []string{
	"listen_addresses", "port", "unix_socket_*", "cluster_name",
	"data_directory", "config_file", "hba_file", "ident_file", "external_pid_file", "logging_collector",
	"include", "include_dir", "include_if_exists",
	"primary_conninfo", "primary_slot_name", "promote_trigger_file", "restore_command",
	"recovery_*", "archive_*", "synchronous_standby_names",
	"wal_receiver_*", "wal_retrieve_retry_interval", "wal_sender_timeout",
	"ssl*", "wal_level", "hot_standby", "wal_log_hints", "full_page_writes",
}

// IsPostgresOwned reports whether tandem owns the PostgreSQL setting name
// (compared in lower case, as PostgreSQL does).
func IsPostgresOwned(name string) bool {
	name = strings.ToLower(name)
	for _, o := range PostgresOwnedParameters {
		if prefix, ok := strings.CutSuffix(o, "*"); ok && strings.HasPrefix(name, prefix) || o == name {
			return true
		}
	}
	return false
}

// memberRE is the form of a member's node name: stricter than any node's,
// since it also names the member in PostgreSQL (its replication
// connection's application_name and its slot).
var memberRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// pgIdentRE is the form of the database and user names: plain lower-case
// SQL identifiers, which need no quoting anywhere.
var pgIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// pgParamRE is the form of a setting's name: a word, or an extension's
// "prefix.name".
var pgParamRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$`)

// reservedDatabases are databases PostgreSQL or pg_hba.conf already give a
// meaning.
var reservedDatabases = []string{"postgres", "template0", "template1", "all", "replication", "sameuser", "samerole", "samegroup"}

// reservedRoles are role names apps may not use: PostgreSQL's own and
// pg_hba.conf's keywords, and the roles tandem creates itself (the
// superuser and the replication role). Names starting with "pg_" are
// reserved by PostgreSQL too.
var reservedRoles = []string{
	"postgres", "replicator", "public", "none", "current_user", "current_role", "session_user",
	"all", "replication", "sameuser", "samerole", "samegroup",
}

// PostgresRoleReserved reports whether apps may not use the role name.
func PostgresRoleReserved(name string) bool {
	return strings.HasPrefix(name, "pg_") || slices.Contains(reservedRoles, name)
}

func (k *checker) database() {
	db := k.st.Database
	if db == nil {
		return
	}
	p := db.Postgres
	if p == nil {
		k.c.addf("database.postgres", "required in a database section: e.g. postgres: { members: [node-a, node-b] }")
		return
	}
	const f = "database.postgres"
	k.pgMembers(f, p)
	if p.Strict && !p.Synchronous {
		k.c.addf(f+".strict", "needs synchronous: true (strict refuses commits no standby has confirmed)")
	} else if p.Strict && len(p.Members) == 1 {
		k.c.addf(f+".strict", "needs at least two members: with one, no standby could ever confirm a commit and every write would wait forever")
	}
	k.between(f+".port", p.Port, 1, 65535)
	if p.TTL < minPostgresTTL || p.TTL > maxPostgresTTL {
		k.c.addf(f+".ttl", "must be >= %s and <= %s, got %s", minPostgresTTL, maxPostgresTTL, p.TTL)
	}
	p.Database = k.pgName(f+".database", p.Database, reservedDatabases, nil)
	p.User = k.pgName(f+".user", p.User, reservedRoles, func(s string) bool { return strings.HasPrefix(s, "pg_") })
	k.pgEndpoint(f+".endpoint", &p.Endpoint, false)
	k.pgEndpoint(f+".read_endpoint", &p.ReadEndpoint, true)
	k.pgEndpoint(f+".site_endpoint", &p.SiteEndpoint, false)
	k.pgParameters(f+".parameters", p)
	k.pgConflicts(f, p)
}

func (k *checker) pgMembers(f string, p *Postgres) {
	switch n := len(p.Members); {
	case n == 0:
		k.c.addf(f+".members", "required: the nodes that run PostgreSQL (cluster.node of each), e.g. [node-a, node-b]; two or more in different zones for failover")
		return
	case n > MaxPostgresMembers:
		k.c.addf(f+".members", "at most %d members, got %d", MaxPostgresMembers, n)
	}
	for i, m := range p.Members {
		field := fmt.Sprintf("%s.members[%d]", f, i)
		if !memberRE.MatchString(m) {
			k.c.addf(field, "must be the cluster.node of a node whose name is lower-case letters, digits, '-' and '.', at most 63 characters (it names the member's replication slot and connection), got %q", m)
		} else if j := slices.Index(p.Members, m); j < i {
			k.c.addf(field, "%q is also members[%d]", m, j)
		}
	}
}

// pgName checks a database or role name, deriving it from the cluster
// name when it is not set, and returns it.
func (k *checker) pgName(field, name string, reserved []string, reservedPrefix func(string) bool) string {
	derived := name == ""
	if derived && k.c.covered("cluster.name") {
		return "" // the cluster name's own problem is reported
	}
	if derived {
		name = strings.ReplaceAll(k.st.Cluster.Name, "-", "_")
		if name != "" && name[0] >= '0' && name[0] <= '9' {
			name = "db_" + name
		}
	}
	what := fmt.Sprintf("%q", name)
	if derived {
		what = fmt.Sprintf("%q (derived from cluster.name; set %s)", name, field[strings.LastIndex(field, ".")+1:])
	}
	switch {
	case len(name) > 63 || !pgIdentRE.MatchString(name):
		k.c.addf(field, "must be lower-case letters, digits and '_', not starting with a digit, at most 63 characters, got %s", what)
	case slices.Contains(reserved, name) || reservedPrefix != nil && reservedPrefix(name):
		k.c.addf(field, "%s is reserved by PostgreSQL or tandem: choose another name", what)
	}
	return name
}

// pgEndpoint checks one database endpoint. An endpoint is for the apps on
// its node only: it speaks plain TCP, so it listens on loopback.
func (k *checker) pgEndpoint(f string, ep *PostgresEndpoint, mayBeOff bool) {
	switch {
	case mayBeOff && ep.Listen == "off":
		ep.Listen = ""
	case checkAddr(ep.Listen) != "":
		k.c.addf(f+".listen", "%s", checkAddr(ep.Listen))
	default:
		if host, _, _ := net.SplitHostPort(ep.Listen); !isLoopback(host) {
			k.c.addf(f+".listen", "must be a loopback address such as 127.0.0.1:6432, got %q: the endpoint speaks plain TCP, for the apps on its own node", ep.Listen)
		}
	}
	if ep.Hold < 0 || ep.Hold > maxEndpointHold {
		k.c.addf(f+".hold", "must be >= 0 and <= %s, got %s", maxEndpointHold, ep.Hold)
	}
	k.between(f+".max_connections", ep.MaxConnections, 1, maxEndpointConns)
}

// pgParameters checks the PostgreSQL settings passed through.
func (k *checker) pgParameters(f string, p *Postgres) {
	if len(p.Parameters) > maxPostgresParameters {
		k.c.addf(f, "at most %d parameters, got %d", maxPostgresParameters, len(p.Parameters))
		return
	}
	for _, name := range sortedKeys(p.Parameters) {
		field, v := f+"."+name, p.Parameters[name]
		switch {
		case len(name) > 63 || !pgParamRE.MatchString(name):
			k.c.addf(field, "%q is not a PostgreSQL setting name: lower-case letters, digits and '_', or prefix.name for an extension's", name)
		case IsPostgresOwned(name):
			k.c.addf(field, "%s is set by tandem on every member and cannot be given here", name)
		case len(v) > maxParameterValue:
			k.c.addf(field, "value longer than %d bytes", maxParameterValue)
		case strings.ContainsAny(v, "\x00\r\n"):
			k.c.addf(field, "value must not contain line breaks or NUL")
		default:
			k.pgParameterValue(field, name, v, p)
		}
	}
}

// pgParameterValue refuses values that would break what tandem promises:
// no acknowledged commit lost in synchronous mode, standbys that can
// replicate.
func (k *checker) pgParameterValue(field, name, v string, p *Postgres) {
	lv := strings.ToLower(strings.TrimSpace(v))
	switch name {
	case "synchronous_commit":
		if p.Synchronous && (lv == "local" || pgFalse(lv)) {
			k.c.addf(field, "%q with synchronous: true would acknowledge commits no standby has: use on, remote_write or remote_apply", v)
		}
	case "fsync":
		if pgFalse(lv) {
			k.c.addf(field, "%q: a crash could then corrupt the database and lose acknowledged commits", v)
		}
	case "max_wal_senders", "max_replication_slots":
		// A base backup streams over two senders while the standbys
		// stream over one each.
		need := len(p.Members) + 1
		if n, err := strconv.Atoi(lv); err != nil || n < need {
			k.c.addf(field, "must be an integer >= %d for %d members (one per standby, two for a base backup), got %q", need, len(p.Members), v)
		}
	}
}

// pgFalse reports whether PostgreSQL reads v (lower case) as boolean false.
func pgFalse(v string) bool {
	switch {
	case v == "0" || v == "of" || v == "off":
		return true
	case v != "" && (strings.HasPrefix("false", v) || strings.HasPrefix("no", v)):
		return true
	}
	return false
}

// pgConflicts refuses a PostgreSQL port or an endpoint address that
// another listener of the node already uses.
func (k *checker) pgConflicts(f string, p *Postgres) {
	type listener struct{ field, addr string }
	others := []listener{{"edge.listen", k.st.Edge.Listen}, {"admin.listen", k.st.Admin.Listen}}
	if t := k.st.Edge.TLS; t != nil {
		others = append(others, listener{"edge.tls.listen", t.Listen})
	}
	cl := k.st.Cluster
	for _, c := range []struct {
		field string
		port  int
	}{{"cluster.peer_port", cl.PeerPort}, {"cluster.client_port", cl.ClientPort}, {"cluster.node_port", cl.NodePort}} {
		others = append(others, listener{c.field, ":" + strconv.Itoa(c.port)})
	}
	endpoints := []listener{{f + ".endpoint.listen", p.Endpoint.Listen}}
	if p.ReadEndpoint.Listen != "" {
		endpoints = append(endpoints, listener{f + ".read_endpoint.listen", p.ReadEndpoint.Listen})
	}
	if k.st.ReadsLocal() {
		endpoints = append(endpoints, listener{f + ".site_endpoint.listen", p.SiteEndpoint.Listen})
	}
	pgPort := ":" + strconv.Itoa(p.Port)
	for _, o := range append(others, endpoints...) {
		if addrsOverlap(pgPort, o.addr) {
			k.c.addf(f+".port", "%d is also the port of %s (%q)", p.Port, o.field, o.addr)
		}
	}
	for i, ep := range endpoints {
		for _, o := range append(others, endpoints[:i]...) {
			if addrsOverlap(ep.addr, o.addr) {
				k.c.addf(ep.field, "%q is the same address as %s (%q)", ep.addr, o.field, o.addr)
			}
		}
	}
}
