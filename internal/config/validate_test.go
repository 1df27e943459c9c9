package config

import (
	"fmt"
	"strings"
	"testing"
)

// base is prepended to every case's text; its three lines keep node and the
// app's command set so a case shows only the problem it is about. Lines in
// the cases count from 1 at the start of base.
const base = "cluster: { node: n1 }\napps:\n  web:\n    command: [bin/wiki]\n"

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string // appended to base unless it starts with "!"
		line int
		path string
		msg  string
	}{
		// decoding
		{"yaml syntax", "!apps:\n  web: [\n", 2, "", "invalid YAML"},
		{"yaml syntax line 1", "!a: b: c\n", 1, "", "invalid YAML"},
		{"tab indentation", "!apps:\n\tweb: {}\n", 2, "", "invalid YAML"},
		{"control character", "!apps:\n  web: {command: [\"a\x00\"]}\n", 2, "", "control character"},
		{"invalid utf-8", "!apps:\n  web: {command: [\"a\xff\"]}\n", 2, "", "invalid UTF-8"},
		{"empty file", "!# nothing\n", 0, "", "the file is empty"},
		{"two documents", "---\n", 6, "", "more than one YAML document"},
		{"root not a mapping", "![1, 2]\n", 1, "", "expected a mapping of sections"},
		{"unknown top-level field", "jobz: {}\n", 5, "jobz", "unknown field"},
		{"unknown field suggestion", "    helth: { path: /h }\n", 5, "apps.web.helth", `unknown field (did you mean "health"?)`},
		{"unknown field nested suggestion", "    interval: 2s\n", 5, "apps.web.interval", `did you mean "health.interval"?`},
		{"unknown field listed", "    zzzzzz: 1\n", 5, "apps.web.zzzzzz", "known fields: command, dir, env"},
		{"duplicate app", "  web:\n    command: [x]\n", 5, "apps.web", `duplicate key "web" (first defined on line 3)`},
		{"duplicate field", "    command: [y]\n", 5, "apps.web.command", "first defined on line 4"},
		{"wrong type mapping", "edge: [1]\n", 5, "edge", "expected a mapping, got a list"},
		{"wrong type int", "    instances: many\n", 5, "apps.web.instances", `expected an integer, got "many"`},
		{"wrong type float", "    retries: { budget: lots }\n", 5, "apps.web.retries.budget", "expected a number"},
		{"int tagged as a string", "    instances: !!str 3\n", 5, "apps.web.instances", `expected an integer, got "3" tagged !!str`},
		{"float tagged as a string", "    retries: { budget: !!str 0.2 }\n", 5, "apps.web.retries.budget", `got "0.2" tagged !!str`},
		{"null scalar", "    instances:\n", 5, "apps.web.instances", "missing value"},
		{"command as string", "!cluster: { node: n1 }\napps:\n  web:\n    command: bin/wiki serve\n", 4, "apps.web.command", `must be a list, e.g. ["bin/wiki", "serve"]`},
		{"missing command", "!cluster: { node: n1 }\napps:\n  web:\n    instances: 2\n", 3, "apps.web.command", "required"},
		{"empty command", "!cluster: { node: n1 }\napps:\n  web:\n    command: []\n", 4, "apps.web.command", "must not be empty"},
		{"empty program", "!cluster: { node: n1 }\napps:\n  web:\n    command: [\"\"]\n", 4, "apps.web.command[0]", "must not be empty"},
		{"empty release", "    release: []\n", 5, "apps.web.release", "must not be empty"},
		{"custom tag", "    dir: !secret x\n", 5, "apps.web.dir", "unsupported YAML tag"},
		{"apps missing", "!cluster: { node: n1 }\n", 0, "apps", "at least one app"},
		{"apps empty", "!apps: {}\n", 1, "apps", "at least one app"},
		{"field instead of app name", "!apps:\n  command: [x]\n", 2, "apps.command", "is a field, not a name"},
		// names
		{"bad app name", "  Web_2:\n    command: [x]\nedge: { routes: [{ app: web }] }\n", 5, "apps.Web_2", "app name \"Web_2\" must be lower-case"},
		{"app name leading dash", "  -web:\n    command: [x]\nedge: { routes: [{ app: web }] }\n", 5, "apps.-web", "must be lower-case"},
		{"bad cluster name", "!cluster: { node: n1, name: My Wiki }\napps: { web: { command: [x] } }\n", 1, "cluster.name", "must be lower-case"},
		{"bad zone", "!cluster: { node: n1, zone: \"\" }\napps: { web: { command: [x] } }\n", 1, "cluster.zone", "must be lower-case"},
		{"bad node", "!cluster: { node: \"n 1\" }\napps: { web: { command: [x] } }\n", 1, "cluster.node", "must be letters"},
		{"advertise unspecified", "!cluster: { node: n1, advertise: 0.0.0.0 }\napps: { web: { command: [x] } }\n", 1, "cluster.advertise", "not an address other nodes can reach"},
		{"advertise bad host", "!cluster: { node: n1, advertise: \"a b\" }\napps: { web: { command: [x] } }\n", 1, "cluster.advertise", "IP address or host name"},
		{"peer port range", "!cluster: { node: n1, peer_port: 70000 }\napps: { web: { command: [x] } }\n", 1, "cluster.peer_port", "must be <= 65535"},
		{"cluster ports clash", "!cluster: { node: n1, node_port: 7380 }\napps: { web: { command: [x] } }\n", 1, "cluster.node_port", "also cluster.peer_port"},
		{"cluster port is admin port", "!cluster: { node: n1, client_port: 7070 }\napps: { web: { command: [x] } }\n", 1, "cluster.client_port", "port of admin.listen"},
		{"etcd no endpoints", "!cluster: { node: n1, etcd: { endpoints: [] } }\napps: { web: { command: [x] } }\n", 1, "cluster.etcd.endpoints", "at least one endpoint"},
		{"etcd bad endpoint", "!cluster: { node: n1, etcd: { endpoints: [\"10.0.0.5:2379\"] } }\napps: { web: { command: [x] } }\n", 1, "cluster.etcd.endpoints[0]", "must be a URL"},
		{"etcd cert without key", "!cluster: { node: n1, etcd: { endpoints: [\"https://e:2379\"], cert: /etc/hostname } }\napps: { web: { command: [x] } }\n", 1, "cluster.etcd.key", "required together"},
		// counts and ranges
		{"negative instances", "    instances: -1\n", 5, "apps.web.instances", "must be >= 0, got -1"},
		{"too many instances", "    instances: 257\n", 5, "apps.web.instances", "must be <= 256, got 257"},
		{"zero rise", "    health: { rise: 0 }\n", 5, "apps.web.health.rise", "must be >= 1, got 0"},
		{"zero fall", "    health:\n      fall: 0\n", 6, "apps.web.health.fall", "must be >= 1, got 0"},
		{"attempts", "    retries: { attempts: 11 }\n", 5, "apps.web.retries.attempts", "must be <= 10"},
		{"budget", "    retries: { budget: 1.5 }\n", 5, "apps.web.retries.budget", "must be >= 0 and <= 1, got 1.5"},
		{"hedge not a bool", "    retries: { hedge: sometimes }\n", 5, "apps.web.retries.hedge", "expected"},
		{"percentile 100", "    retries: { per_try_timeout: { percentile: 100 } }\n", 5, "apps.web.retries.per_try_timeout.percentile", "must be > 0 and < 100, got 100"},
		{"factor below 1", "    retries: { per_try_timeout: { factor: 0.5 } }\n", 5, "apps.web.retries.per_try_timeout.factor", "must be >= 1, got 0.5"},
		{"zero per-try min", "    retries: { per_try_timeout: { min: 0s } }\n", 5, "apps.web.retries.per_try_timeout.min", "must be > 0"},
		{"per-try max below min", "    retries: { per_try_timeout: { min: 1s, max: 500ms } }\n", 5, "apps.web.retries.per_try_timeout.max", "must be >= min (1s), got 500ms"},
		{"memory too small", "    limits: { memory: 1MiB }\n", 5, "apps.web.limits.memory", "must be 0 (no limit) or >= 4MiB, got 1MiB"},
		{"writes", "    writes: primary\n", 5, "apps.web.writes", "unknown field"},
		// durations and sizes
		{"bare integer duration", "    health: { interval: 2 }\n", 5, "apps.web.health.interval", "use a unit, e.g. 2s"},
		{"bad duration", "    stop: { grace: soon }\n", 5, "apps.web.stop.grace", `invalid duration "soon"`},
		{"zero interval", "    health: { interval: 0s }\n", 5, "apps.web.health.interval", "must be > 0"},
		{"timeout above interval", "    health: { interval: 1s, timeout: 2s }\n", 5, "apps.web.health.timeout", "must be <= interval (1s), got 2s"},
		{"negative restart_after", "    health: { restart_after: -1s }\n", 5, "apps.web.health.restart_after", "must be >= 0"},
		{"backoff order", "    restart: { min_backoff: 2s, max_backoff: 1s }\n", 5, "apps.web.restart.max_backoff", "must be >= restart.min_backoff"},
		{"zero edge timeout", "edge: { timeouts: { upstream: 0s } }\n", 5, "edge.timeouts.upstream", "must be > 0"},
		{"bad size", "edge: { limits: { max_body_bytes: 100MB! } }\n", 5, "edge.limits.max_body_bytes", "unknown unit"},
		{"ambiguous size", "    limits: { memory: 512m }\n", 5, "apps.web.limits.memory", "did you mean 512MiB or 512MB?"},
		{"zero size", "edge: { limits: { max_header_bytes: 0 } }\n", 5, "edge.limits.max_header_bytes", "must be > 0"},
		// signals, paths
		{"bad signal", "    stop: { signal: SIGKILL }\n", 5, "apps.web.stop.signal", `unknown stop signal "SIGKILL"`},
		{"health path", "    health: { path: healthz }\n", 5, "apps.web.health.path", `must start with "/"`},
		{"env name", "    env: { 1X: a }\n", 5, "apps.web.env.1X", "invalid variable name"},
		{"env PORT", "    env: { PORT: \"80\" }\n", 5, "apps.web.env.PORT", "set by tandem"},
		{"env list", "    env: { A: [1] }\n", 5, "apps.web.env.A", "expected a string, got a list"},
		// interpolation
		{"unset variable", "    env: { DB: \"${UNSET}\" }\n", 5, "apps.web.env.DB", "environment variable UNSET is not set"},
		{"unset variable in dir", "    dir: ${NOPE}/x\n", 5, "apps.web.dir", "NOPE is not set"},
		{"stray dollar", "    env: { A: \"$HOME\" }\n", 5, "apps.web.env.A", `stray "$"`},
		{"unterminated", "    env: { A: \"${HOME\" }\n", 5, "apps.web.env.A", "unterminated"},
		{"bad variable name", "    env: { A: \"${1A}\" }\n", 5, "apps.web.env.A", "invalid variable name"},
		{"interpolated bad int", "    instances: ${BAD_N}\n", 5, "apps.web.instances", `got "${BAD_N}" (after expanding variables)`},
		// edge
		{"trusted proxy host bits", "edge: { trusted_proxies: [10.0.0.1/8] }\n", 5, "edge.trusted_proxies[0]", "did you mean 10.0.0.0/8?"},
		{"trusted proxy garbage", "edge:\n  trusted_proxies:\n    - 127.0.0.1\n    - localhost\n", 8, "edge.trusted_proxies[1]", `invalid IP address or CIDR "localhost"`},
		{"trusted proxy bad cidr", "edge: { trusted_proxies: [10.0.0.0/33] }\n", 5, "edge.trusted_proxies[0]", "invalid CIDR"},
		{"trusted proxies scalar", "edge: { trusted_proxies: 10.0.0.0/8 }\n", 5, "edge.trusted_proxies", `must be a list, e.g. ["10.0.0.0/8"]`},
		{"listen bare port", "edge: { listen: \"8080\" }\n", 5, "edge.listen", `did you mean ":8080"?`},
		{"listen bad port", "edge: { listen: \":http\" }\n", 5, "edge.listen", "port must be a number"},
		{"listen port range", "edge: { listen: \":70000\" }\n", 5, "edge.listen", "port must be a number from 0 to 65535"},
		{"admin listen", "admin: { listen: localhost }\n", 5, "admin.listen", "must be host:port"},
		{"admin bad host", "admin: { listen: \"bad host:7070\" }\n", 5, "admin.listen", "invalid host"},
		{"listen conflict", "admin: { listen: \":8080\" }\n", 5, "admin.listen", `same address as edge.listen`},
		{"admin remote without tls", "admin: { listen: \"10.0.0.5:7070\" }\n", 5, "admin.tls", "not a loopback address"},
		{"admin everywhere without tls", "admin: { listen: \":7070\" }\n", 5, "admin.tls", "set admin.tls.cert and admin.tls.key"},
		{"admin host name without tls", "admin: { listen: \"admin.example.com:7070\" }\n", 5, "admin.tls", "over HTTPS only"},
		{"admin tls key missing", "admin: { listen: \"0.0.0.0:7070\", tls: { cert: cert.pem } }\n", 5, "admin.tls.key", "required together with admin.tls.cert"},
		{"admin tls cert not found", "admin: { listen: \"[::1]:7070\", tls: { cert: nope.pem, key: key.pem } }\n", 5, "admin.tls.cert", "no such file"},
		{"listen off without tls", "edge: { listen: \"off\" }\n", 5, "edge.listen", "would not listen at all"},
		{"tls without files", "edge: { tls: { listen: \":8443\" } }\n", 5, "edge.tls", "cert and key are required"},
		{"tls key missing", "edge: { tls: { cert: cert.pem } }\n", 5, "edge.tls.key", "required together with edge.tls.cert"},
		{"tls cert not found", "edge:\n  tls:\n    cert: nope.pem\n    key: key.pem\n", 7, "edge.tls.cert", "no such file"},
		{"tls cert is a dir", "edge: { tls: { cert: ., key: key.pem } }\n", 5, "edge.tls.cert", "not a regular file"},
		{"access log empty", "edge: { access_log: \"\" }\n", 5, "edge.access_log", "must not be empty"},
		{"log level", "log: { level: loud }\n", 5, "log.level", `unknown log level "loud"`},
		{"log format", "log: { format: xml }\n", 5, "log.format", "must be json or text"},
		// routes
		{"route unknown app", "edge:\n  routes:\n    - { path: /, app: wbe }\n", 7, "edge.routes[0].app", `unknown app "wbe" (did you mean "web"?)`},
		{"route missing app", "edge: { routes: [{ path: / }] }\n", 5, "edge.routes[0].app", "required"},
		{"route path", "edge: { routes: [{ path: api, app: web }] }\n", 5, "edge.routes[0].path", `must start with "/"`},
		{"route host port", "edge: { routes: [{ host: \"a.com:80\", app: web }] }\n", 5, "edge.routes[0].host", "leave out the port"},
		{"route host wildcard", "edge: { routes: [{ host: \"a.*.com\", app: web }] }\n", 5, "edge.routes[0].host", "must be a host name"},
		{"route duplicate", "edge:\n  routes:\n    - { app: web }\n    - { path: /, app: web }\n", 8, "edge.routes[1]", "same host and path as edge.routes[0] (line 7)"},
		{"routes empty", "edge: { routes: [] }\n", 5, "edge.routes", "at least one route"},
		{"routes needed", "  api:\n    command: [api]\n", 2, "edge.routes", "required when there is more than one app (web, api)"},
		// hostile
		{"alias cycle", "    health: &h { path: /x, interval: *h }\n", 5, "apps.web.health.interval", "expected a duration"},
		{"merge cycle", "    health: &h { path: /x, <<: *h }\n", 5, "apps.web.health", "merge (<<) refers to a mapping that contains it"},
		{"merge scalar", "    health: { <<: 1 }\n", 5, "apps.web.health", "merge (<<) needs a mapping"},
		{"non-string key", "    env: { [a]: b }\n", 5, "apps.web.env", "keys must be plain strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.src
			if strings.HasPrefix(tt.src, "!") {
				src = tt.src[1:]
			}
			_, err := parse(t, src)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error; want %s: %s", src, tt.path, tt.msg)
			}
			for _, fe := range problems(t, err) {
				if fe.Path == tt.path && fe.Line == tt.line && strings.Contains(fe.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("Parse(%q) =\n%v\nwant a problem at line %d, %s: ...%s...", src, err, tt.line, tt.path, tt.msg)
		})
	}
}

// TestParseCollectsAll checks that every problem in a file is reported, each
// once, and that a value that failed to decode is not also reported as out
// of range.
func TestParseCollectsAll(t *testing.T) {
	src := `cluster: { node: n1 }
apps:
  web:
    command: [bin/wiki]
    instances: -1
    health: { interval: 2, helth: x }
edge:
  listen: "8080"
`
	_, err := parse(t, src)
	ps := problems(t, err)
	want := []string{
		"stack.yaml:5: apps.web.instances: must be >= 0, got -1",
		"stack.yaml:6: apps.web.health.interval: duration \"2\" has no unit: use a unit, e.g. 2s",
		"stack.yaml:6: apps.web.health.helth: unknown field",
		"stack.yaml:8: edge.listen: must be host:port",
	}
	if len(ps) != len(want) {
		t.Fatalf("Parse reported %d problems:\n%v\nwant %d", len(ps), err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(ps[i].Error(), w) {
			t.Errorf("problem %d = %q; want prefix %q", i, ps[i].Error(), w)
		}
	}
}

func TestParseTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for i := range 500 {
		fmt.Fprintf(&b, "    bad%d: 1\n", i)
	}
	_, err := parse(t, b.String())
	ps := problems(t, err)
	if len(ps) != maxErrors+1 || !strings.Contains(ps[maxErrors].Msg, "too many problems") {
		t.Errorf("Parse reported %d problems, last %q; want %d and a final \"too many problems\"", len(ps), ps[len(ps)-1].Msg, maxErrors+1)
	}
}
