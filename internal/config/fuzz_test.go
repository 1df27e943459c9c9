package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		fullExample,
		base,
		base + "  api:\n    command: [api]\nedge: { routes: [{ host: \"*.a.com\", path: /api, app: api }, { app: web }] }\n",
		base + "    instances: -1\n    helth: {}\n    health: { interval: 2, timeout: 5s }\n",
		base + "  web:\n    command: [x]\n",
		base + "    env: { A: \"${UNSET}\", B: \"${X:-d}\", C: \"$$\", D: \"$x\" }\n",
		base + "    health: &h { path: /x, <<: *h }\n",
		base + "    limits: { memory: 1.5GB }\n    stop: { signal: HUP, grace: 1d }\n",
		"x0: &l0 { path: / }\nx1: &l1 { <<: [*l0, *l0] }\n" + base + "    health: *l1\n",
		"edge: { listen: \"off\", trusted_proxies: [\"::1\", 10.0.0.0/8] }\n" + base,
		"apps: &a\n  web: *a\n",
		"---\n---\n",
		"a: b: c",
		"",
		"\xff",
		"[1, 2]",
		"apps: { web: { command: !!binary aGk= } }",
		base + "checks:\n  home: { url: \"https://a/\", interval: 2s, timeout: 1s, expect: { status: [200, 301], body: ok }, fall: 1, method: head, headers: { Host: a } }\n" +
			"alerts:\n  webhook: { url: \"http://h/\", headers: { X: y } }\n  smtp: { host: m, port: 25, from: a@b.c, to: [d@e.f], username: u, password: p, starttls: false }\n  renotify: 0\n",
		base + "database:\n  postgres:\n    members: [n1, n2]\n    strict: true\n    ttl: 3s\n    endpoint: { listen: \"127.0.0.1:6432\", hold: 1s }\n" +
			"    read_endpoint: { listen: \"off\" }\n    parameters: { work_mem: 4MB, pg_stat_statements.max: \"100\", synchronous_commit: remote_write }\n",
		base + "database: { postgres: { members: [n1], user: pg_x, database: \"\", parameters: { port: \"1\", fsync: of } } }\n",
		base + "upstreams:\n  api: { servers: [{ url: \"https://[::1]:8443/b/\" }, { url: \"http://a\", backup: true }], host: client, health: { path: /h } }\n" +
			"edge: { routes: [{ app: web }, { path: /api/, upstream: api, strip_path: true }, { path: /m/, storage: web }] }\n" +
			"storage: { store: { s3: { endpoint: \"http://127.0.0.1:9000\", access_key: a, secret_key: secret-key } }, replica: { s3: { endpoint: \"https://r\", access_key: b, secret_key: secret-two } }, apps: { web: { bucket: w-b } } }\n",
		base + "storage: { apps: { web: { bucket: X } }, replication: { interval: 1ms, resync: \"@every\" } }\nupstreams: { web: { servers: [{ url: \"ftp://u:p@h?q\" }] } }\n",
		base + "database: { postgres: { members: [n1, n2], bootstrap: { from_backup: latest, time: \"2026-12-06 04:00:00Z\" } } }\n" +
			"backup:\n  s3: { bucket: b, prefix: p/, endpoint: \"http://h:1\" }\n  retention: { for: 14d }\n  files: { up: { dir: u }, db: { sqlite: d.db } }\n",
		base + "backup: { local: x, local_shared: true, encryption_key: \"${EMPTY}\", archive_timeout: 0, restore_test: { check: [c] } }\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src string) {
		st, err := Parse("stack.yaml", []byte(src), dir, testEnv)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("Parse(%q) error = %v (%T); want a non-empty *Errors", src, err, err)
			}
			for _, fe := range errs.List {
				if fe.Msg == "" || fe.Line < 0 {
					t.Fatalf("Parse(%q): bad problem %+v", src, fe)
				}
			}
			if _, err2 := Parse("stack.yaml", []byte(src), dir, testEnv); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Parse(%q) is not deterministic:\n%v\nthen\n%v", src, err, err2)
			}
			return
		}
		checkInvariants(t, src, st)
	})
}

// checkInvariants checks what a successful Parse promises.
func checkInvariants(t *testing.T, src string, st *Stack) {
	t.Helper()
	if len(st.Apps) == 0 || len(st.AppNames) != len(st.Apps) || len(st.Edge.Routes) == 0 {
		t.Fatalf("Parse(%q) = %+v; want apps, names and routes", src, st)
	}
	for _, r := range st.Edge.Routes {
		targets := 0
		if st.Apps[r.App] != nil {
			targets++
		}
		if st.Upstreams[r.Upstream] != nil {
			targets++
		}
		if st.Storage != nil && st.Storage.Apps[r.Storage] != nil {
			targets++
		}
		if targets != 1 || r.Path == "" || r.Path[0] != '/' {
			t.Fatalf("Parse(%q): bad route %+v", src, r)
		}
	}
	for _, name := range st.UpstreamNames {
		u := st.Upstreams[name]
		if u == nil || u.Name != name || len(u.Servers) == 0 || st.Apps[name] != nil {
			t.Fatalf("Parse(%q): bad upstream %q: %+v", src, name, u)
		}
		for _, srv := range u.Servers {
			if _, err := ParseUpstreamURL(srv.URL); err != nil {
				t.Fatalf("Parse(%q): upstream %q server %q accepted: %v", src, name, srv.URL, err)
			}
		}
	}
	if s := st.Storage; s != nil {
		checkStorage(t, src, st, s)
	}
	for _, name := range st.AppNames {
		a := st.Apps[name]
		if a == nil || a.Name != name || len(a.Command) == 0 || !filepath.IsAbs(a.Dir) {
			t.Fatalf("Parse(%q): bad app %q: %+v", src, name, a)
		}
		if a.Health.Interval <= 0 || a.Health.Timeout > a.Health.Interval || a.Instances < 0 {
			t.Fatalf("Parse(%q): bad app %q: %+v", src, name, a)
		}
	}
	for _, name := range st.CheckNames {
		c := st.Checks[name]
		if c == nil || c.Name != name || c.URL == "" || c.Interval < minCheckInterval || c.Timeout <= 0 || c.Timeout >= c.Interval ||
			c.Rise < 1 || c.Fall < 1 || (c.Method != CheckGET && c.Method != CheckHEAD) {
			t.Fatalf("Parse(%q): bad check %q: %+v", src, name, c)
		}
	}
	if db := st.Database; db != nil {
		checkPostgres(t, src, db.Postgres)
	}
	if !filepath.IsAbs(st.Cluster.DataDir) {
		t.Fatalf("Parse(%q): data_dir %q not absolute", src, st.Cluster.DataDir)
	}
}

// checkPostgres checks what a successful Parse promises of a database
// section.
func checkPostgres(t *testing.T, src string, p *Postgres) {
	t.Helper()
	if p == nil || len(p.Members) == 0 || len(p.Members) > MaxPostgresMembers || p.TTL < minPostgresTTL || p.TTL > maxPostgresTTL ||
		p.Port < 1 || p.Port > 65535 || !pgIdentRE.MatchString(p.Database) || !pgIdentRE.MatchString(p.User) ||
		PostgresRoleReserved(p.User) || (p.Strict && (!p.Synchronous || len(p.Members) < 2)) {
		t.Fatalf("Parse(%q): bad database.postgres %+v", src, p)
	}
	for _, ep := range []PostgresEndpoint{p.Endpoint, p.ReadEndpoint, p.SiteEndpoint} {
		if ep.Hold < 0 || ep.Hold > maxEndpointHold || ep.MaxConnections < 1 || ep.MaxConnections > maxEndpointConns {
			t.Fatalf("Parse(%q): bad endpoint %+v", src, ep)
		}
	}
	if p.Endpoint.Listen == "" || checkAddr(p.Endpoint.Listen) != "" {
		t.Fatalf("Parse(%q): bad endpoint address %q", src, p.Endpoint.Listen)
	}
	for _, m := range p.Members {
		if !memberRE.MatchString(m) {
			t.Fatalf("Parse(%q): member %q accepted", src, m)
		}
	}
	for name, v := range p.Parameters {
		if IsPostgresOwned(name) || !pgParamRE.MatchString(name) || strings.ContainsAny(v, "\x00\r\n") {
			t.Fatalf("Parse(%q): parameter %q = %q accepted", src, name, v)
		}
	}
}

// checkStorage checks what a successful Parse promises of a storage
// section.
func checkStorage(t *testing.T, src string, st *Stack, s *Storage) {
	t.Helper()
	if (s.Store.Embedded == nil) == (s.Store.S3 == nil) || len(s.Apps) == 0 || len(s.AppNames) != len(s.Apps) ||
		s.Replication.Interval < minReplicationPoll || s.Replication.Workers < 1 {
		t.Fatalf("Parse(%q): bad storage %+v", src, s)
	}
	if e := s.Store.Embedded; e != nil && (!filepath.IsAbs(e.Dir) || checkAddr(e.Listen) != "") {
		t.Fatalf("Parse(%q): bad embedded store %+v", src, e)
	}
	if r := s.Replica; r != nil && r.S3 == nil {
		t.Fatalf("Parse(%q): replica without s3: %+v", src, r)
	}
	for name, b := range s.Apps {
		if st.Apps[name] == nil || !bucketRE.MatchString(b.Bucket) || !bucketRE.MatchString(b.ReplicaBucket) {
			t.Fatalf("Parse(%q): bad bucket of %q: %+v", src, name, b)
		}
	}
}
