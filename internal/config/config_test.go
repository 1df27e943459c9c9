package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testEnv is the environment tests parse with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{"DB_PASSWORD": "s3cret", "EMPTY": "", "N": "4", "BAD_N": "hunter2"}[name]
	return v, ok
}

// parse parses src as "stack.yaml" in a fresh directory holding cert.pem and
// key.pem.
func parse(t *testing.T, src string) (*Stack, error) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Parse("stack.yaml", []byte(src), dir, testEnv)
}

// problems returns the FieldErrors of a failed Parse.
func problems(t *testing.T, err error) []*FieldError {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error = %v (%T); want *Errors", err, err)
	}
	if len(errs.List) == 0 {
		t.Fatal("*Errors with no problems")
	}
	for _, fe := range errs.List {
		if fe.Msg == "" {
			t.Errorf("problem without a message: %+v", fe)
		}
	}
	return errs.List
}

const fullExample = `# a full stack file
cluster:
  name: wiki
  node: n1
  zone: a
  site: cloud
  data_dir: /var/lib/tandem
edge:
  listen: "0.0.0.0:80"
  tls: { listen: ":443", cert: cert.pem, key: key.pem }
  trusted_proxies: ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]
  timeouts: { read_header: 5s, idle: 1m, upstream: 30s, shutdown: 20s, body: 20s }
  limits: { max_header_bytes: 32KiB, max_body_bytes: 1GiB, body_min_rate: 0, body_buffer: 16KiB, body_memory: 32MiB, body_disk: 4GiB, max_connections: 5000 }
  body_temp_path: tmp/bodies
  access_log: logs/access.log
  routes:
    - { host: "WIKI.example.com", path: "/", app: web }
    - { host: "*.example.com", path: /api/, app: api, request_body: stream }
    - { host: "*", app: web }
admin:
  listen: 127.0.0.1:9090
log:
  level: debug
  format: text
apps:
  web:
    command: ["bin/wiki", "serve"]
    dir: app
    env: { WIKI_DATA: ./data, DB_PASSWORD: "${DB_PASSWORD}", MODE: "${MODE:-prod}", PRICE: "$$5" }
    instances: ${N}
    release: ["bin/wiki", "migrate"]
    health:
      path: /healthz
      interval: 5s
      timeout: 2s
      rise: 1
      fall: 5
      startup: 2m
      restart_after: 0
    stop: { signal: QUIT, grace: 20s }
    restart: { min_backoff: 1s, max_backoff: 1m }
    limits: { memory: 512MiB }
    retries: { attempts: 2, budget: 0, hedge: false, per_try_timeout: { percentile: 95, factor: 3, min: 100ms, max: 5s } }
  api:
    command: [python3, -m, api]
    instances: 0
`

func TestParseFull(t *testing.T) {
	st, err := parse(t, fullExample)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	dir := st.Dir
	want := &Stack{
		Cluster: Cluster{Name: "wiki", Node: "n1", Zone: "a", Site: "cloud", DataDir: "/var/lib/tandem", Advertise: "127.0.0.1", PeerPort: 7380, ClientPort: 7379, NodePort: 7946},
		Edge: Edge{
			Listen:         "0.0.0.0:80",
			TLS:            &TLS{Listen: ":443", Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")},
			Timeouts:       EdgeTimeouts{ReadHeader: Duration(5 * time.Second), Idle: Duration(time.Minute), Upstream: Duration(30 * time.Second), Shutdown: Duration(20 * time.Second), Body: Duration(20 * time.Second)},
			Limits: EdgeLimits{MaxHeaderBytes: 32 * KiB, MaxBodyBytes: GiB, BodyBuffer: 16 * KiB, BodyMemory: 32 * MiB, BodyDisk: 4 * GiB,
				MaxConnections: 5000},
			BodyTempPath: filepath.Join(dir, "tmp/bodies"),
			AccessLog:    filepath.Join(dir, "logs/access.log"),
			Cache:        defaultCache("/var/lib/tandem"),
			Purge:        defaultPurge(),
			Routes: []Route{
				{Host: "wiki.example.com", Path: "/", App: "web", Cache: defaultRouteCache(), RequestBody: RequestBodyBuffer},
				{Host: "*.example.com", Path: "/api/", App: "api", Cache: defaultRouteCache(), RequestBody: RequestBodyStream},
				{Host: "", Path: "/", App: "web", Cache: defaultRouteCache(), RequestBody: RequestBodyBuffer},
			},
		},
		Admin:  Admin{Listen: "127.0.0.1:9090"},
		Log:    Log{Level: slog.LevelDebug, Format: "text"},
		Alerts: Alerts{Renotify: Duration(time.Hour)},
		Apps: map[string]*App{
			"web": {
				Name:      "web",
				Command:   []string{filepath.Join(dir, "app/bin/wiki"), "serve"},
				Dir:       filepath.Join(dir, "app"),
				Env:       map[string]string{"WIKI_DATA": "./data", "DB_PASSWORD": "s3cret", "MODE": "prod", "PRICE": "$5"},
				Instances: 4,
				Release:   []string{filepath.Join(dir, "app/bin/wiki"), "migrate"},
				Health: HealthCheck{Path: "/healthz", Interval: Duration(5 * time.Second), Timeout: Duration(2 * time.Second),
					Rise: 1, Fall: 5, Startup: Duration(2 * time.Minute), RestartAfter: 0},
				Stop:    StopPolicy{Signal: syscall.SIGQUIT, Grace: Duration(20 * time.Second)},
				Restart: RestartPolicy{MinBackoff: Duration(time.Second), MaxBackoff: Duration(time.Minute)},
				Limits:  AppLimits{Memory: 512 * MiB},
				Retries: RetryPolicy{Attempts: 2, Budget: 0, Hedge: false, PerTryTimeout: PerTryTimeout{
					Percentile: 95, Factor: 3, Min: Duration(100 * time.Millisecond), Max: Duration(5 * time.Second),
				}},
				Deploy: defaultDeploy(),
			},
			"api": defaultApp("api", []string{"python3", "-m", "api"}, dir, 0),
		},
		Tracing:  Tracing{SampleRatio: 1, ServiceName: "tandem"},
		AppNames: []string{"web", "api"},
		File:     "stack.yaml",
		Dir:      dir,
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Parse(fullExample) =\n%+v\nwant\n%+v", st, want)
		for _, name := range want.AppNames {
			if !reflect.DeepEqual(st.Apps[name], want.Apps[name]) {
				t.Errorf("app %s =\n%+v\nwant\n%+v", name, st.Apps[name], want.Apps[name])
			}
		}
	}
}

func defaultCache(dataDir string) EdgeCache {
	return EdgeCache{Memory: 256 * MiB, Disk: CacheDisk{Path: filepath.Join(dataDir, "cache"), Size: GiB}}
}

func defaultPurge() Purge {
	return Purge{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
}

func defaultRouteCache() RouteCache {
	return RouteCache{MaxObjectSize: 256 * MiB, Grace: Duration(time.Hour), HitForPass: Duration(2 * time.Minute)}
}

// defaultApp is an app with every default, as a minimal stack file gives.
func defaultApp(name string, cmd []string, dir string, instances int) *App {
	return &App{
		Name:      name,
		Command:   cmd,
		Dir:       dir,
		Instances: instances,
		Health: HealthCheck{Path: "/", Interval: Duration(2 * time.Second), Timeout: Duration(time.Second),
			Rise: 2, Fall: 3, Startup: Duration(time.Minute), RestartAfter: Duration(30 * time.Second)},
		Stop:    StopPolicy{Signal: syscall.SIGTERM, Grace: Duration(10 * time.Second)},
		Restart: RestartPolicy{MinBackoff: Duration(100 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)},
		Retries: RetryPolicy{Attempts: 3, Budget: 0.2, Hedge: true, PerTryTimeout: PerTryTimeout{
			Percentile: 99, Factor: 2, Min: Duration(50 * time.Millisecond), Max: Duration(2 * time.Second),
		}},
		Deploy: defaultDeploy(),
	}
}

func defaultDeploy() DeployPolicy {
	return DeployPolicy{Surge: 1, Drain: Duration(30 * time.Second), History: 10, ReleaseTimeout: Duration(30 * time.Minute)}
}

func TestParseDefaults(t *testing.T) {
	st, err := parse(t, "cluster: { node: n1 }\napps:\n  web:\n    command: [./wiki]\n")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	dir := st.Dir
	want := &Stack{
		Cluster: Cluster{Name: "tandem", Node: "n1", Zone: "default", Site: "home", DataDir: filepath.Join(dir, ".tandem"), Advertise: "127.0.0.1", PeerPort: 7380, ClientPort: 7379, NodePort: 7946},
		Edge: Edge{
			Listen: ":8080",
			Timeouts: EdgeTimeouts{ReadHeader: Duration(10 * time.Second), Idle: Duration(120 * time.Second), Upstream: Duration(60 * time.Second),
				Shutdown: Duration(30 * time.Second), Body: Duration(60 * time.Second)},
			Limits: EdgeLimits{MaxHeaderBytes: 64 * KiB, MaxBodyBytes: 100 * MiB, BodyMinRate: KiB, BodyBuffer: 64 * KiB, BodyMemory: 64 * MiB,
				BodyDisk: GiB},
			BodyTempPath: filepath.Join(dir, ".tandem", "body"),
			AccessLog:    "stdout",
			Cache:        defaultCache(filepath.Join(dir, ".tandem")),
			Purge:        defaultPurge(),
			Routes:       []Route{{Path: "/", App: "web", Cache: defaultRouteCache(), RequestBody: RequestBodyBuffer}},
		},
		Admin:    Admin{Listen: "127.0.0.1:7070"},
		Log:      Log{Level: slog.LevelInfo, Format: "json"},
		Alerts:   Alerts{Renotify: Duration(time.Hour)},
		Apps:     map[string]*App{"web": defaultApp("web", []string{filepath.Join(dir, "wiki")}, dir, 1)},
		Tracing:  Tracing{SampleRatio: 1, ServiceName: "tandem"},
		AppNames: []string{"web"},
		File:     "stack.yaml",
		Dir:      dir,
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", st, want)
	}
}

func TestParseNodeDefaultsToHostname(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	st, err := parse(t, "apps: { web: { command: [wiki] } }")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if st.Cluster.Node != h {
		t.Errorf("Cluster.Node = %q; want host name %q", st.Cluster.Node, h)
	}
	if got := st.Apps["web"].Command[0]; got != "wiki" {
		t.Errorf("Command[0] = %q; want bare name %q left for $PATH", got, "wiki")
	}
}

func TestParseAppNamesInFileOrder(t *testing.T) {
	src := "apps:\n  zeta: { command: [z] }\n  alpha: { command: [a] }\n  mid: { command: [m] }\nedge:\n  routes: [{ app: alpha }]\ncluster: { node: n }\n"
	st, err := parse(t, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if want := []string{"zeta", "alpha", "mid"}; !reflect.DeepEqual(st.AppNames, want) {
		t.Errorf("AppNames = %q; want %q", st.AppNames, want)
	}
}

func TestParseListenOff(t *testing.T) {
	st, err := parse(t, "cluster: { node: n }\nedge: { listen: \"off\", tls: { cert: cert.pem, key: key.pem } }\napps: { web: { command: [w] } }\n")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if st.Edge.Listen != "" || st.Edge.TLS.Listen != ":8443" {
		t.Errorf("Edge.Listen = %q, TLS.Listen = %q; want \"\" and \":8443\"", st.Edge.Listen, st.Edge.TLS.Listen)
	}
}

// TestParseAdminTLS: the admin API may listen beyond loopback with a
// certificate; on loopback it needs none.
func TestParseAdminTLS(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:7070", "[::1]:7070", "localhost:7070"} {
		if _, err := parse(t, "cluster: { node: n }\nadmin: { listen: \""+listen+"\" }\napps: { web: { command: [w] } }\n"); err != nil {
			t.Errorf("Parse(admin.listen %s without tls) = %v; want no error", listen, err)
		}
	}
	st, err := parse(t, "cluster: { node: n }\nadmin: { listen: \"0.0.0.0:7070\", tls: { cert: cert.pem, key: key.pem } }\napps: { web: { command: [w] } }\n")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if a := st.Admin; a.TLS == nil || a.TLS.Cert != filepath.Join(st.Dir, "cert.pem") || a.TLS.Key != filepath.Join(st.Dir, "key.pem") {
		t.Errorf("Admin = %+v; want TLS with absolute cert.pem and key.pem", a)
	}
}

func TestParseMergeKeys(t *testing.T) {
	src := `cluster: { node: n }
x-common: &common
  command: [bin/server]
  health: { path: /healthz }
apps:
  web:
    <<: *common
    instances: 2
  worker:
    <<: *common
    command: [bin/worker]
edge:
  routes: [{ app: web }]
`
	// x-common is not a known top-level field; merging works, but only
	// inside known sections.
	_, err := parse(t, src)
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Path != "x-common" {
		t.Fatalf("Parse = %v; want exactly the unknown field x-common", err)
	}
	src = `cluster: { node: n }
apps:
  base: &common
    command: [bin/server]
    health: { path: /healthz }
    instances: 0
  web:
    <<: *common
    instances: 2
  worker:
    <<: [*common, { release: [bin/migrate] }]
    command: [bin/worker]
edge:
  routes: [{ app: web }]
`
	st, err := parse(t, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	web, worker := st.Apps["web"], st.Apps["worker"]
	if web.Instances != 2 || web.Health.Path != "/healthz" || !strings.HasSuffix(web.Command[0], "/bin/server") {
		t.Errorf("web = %+v; want merged command and health with instances 2", web)
	}
	if !strings.HasSuffix(worker.Command[0], "/bin/worker") || worker.Health.Path != "/healthz" || len(worker.Release) != 1 || worker.Instances != 0 {
		t.Errorf("worker = %+v; want its own command and the merged health", worker)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stack.yaml")
	if err := os.WriteFile(path, []byte("cluster: { node: n }\napps: { web: { command: [./w], dir: sub } }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := st.Apps["web"].Dir, filepath.Join(dir, "sub"); got != want {
		t.Errorf("Dir = %q; want %q", got, want)
	}
	if got, want := st.Cluster.DataDir, filepath.Join(dir, ".tandem"); got != want {
		t.Errorf("DataDir = %q; want %q", got, want)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want fs.ErrNotExist", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big)
	if ps := problems(t, err); !strings.Contains(ps[0].Msg, "larger than") {
		t.Errorf("Load(big) = %v; want a size problem", err)
	}
}

func TestErrorsFormat(t *testing.T) {
	_, err := parse(t, "cluster: { node: n }\napps:\n  web:\n    command: [w]\n    instances: -1\n")
	if got, want := err.Error(), "stack.yaml:5: apps.web.instances: must be >= 0, got -1"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "apps.web.instances" || fe.Line != 5 {
		t.Errorf("errors.As(*FieldError) = %+v; want apps.web.instances at line 5", fe)
	}
}

func TestParseSecretNotEchoed(t *testing.T) {
	_, err := parse(t, "cluster: { node: n }\napps: { web: { command: [w], instances: \"${BAD_N}\" } }\n")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "${BAD_N}") {
		t.Errorf("Parse error = %v; want it to name ${BAD_N} without its value", err)
	}
}
