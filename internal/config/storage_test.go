package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkProblems parses base+src for each case and wants a problem at path
// whose message contains msg, on a line.
func checkProblems(t *testing.T, tests []struct{ src, path, msg string }) {
	t.Helper()
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

func TestStorageDefaults(t *testing.T) {
	st, err := parse(t, "cluster: { node: n1, name: shop }\napps: { web: { command: [x] } }\nstorage: { apps: { web: {} } }\n")
	if err != nil {
		t.Fatal(err)
	}
	s := st.Storage
	want := &Storage{
		Store:       ObjectStore{Embedded: &EmbeddedStore{Listen: "127.0.0.1:7480", Dir: filepath.Join(st.Cluster.DataDir, "objects")}},
		Apps:        map[string]*AppBucket{"web": {Bucket: "shop-web", ReplicaBucket: "shop-web"}},
		Replication: Replication{Interval: Duration(time.Second), Workers: 4, Resync: "30 3 * * *"},
		AppNames:    []string{"web"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("storage = %+v\nwant %+v", s, want)
	}
	if st.Edge.Routes[0].App != "web" {
		t.Errorf("the default route goes to %+v; want app web", st.Edge.Routes[0])
	}
}

func TestStorageFull(t *testing.T) {
	st, err := parse(t, base+`storage:
  store:
    s3: { endpoint: "https://s3.home.example:9000", region: eu-west-1, path_style: false, ca: cert.pem, access_key: AK, secret_key: "${DB_PASSWORD}-long" }
    site: home
  replica:
    s3: { endpoint: "https://s3.cloud.example", access_key: AK2, secret_key: secret-two }
    site: cloud
  apps:
    web: { bucket: web-media, replica_bucket: web-media-copy }
  replication: { interval: 250ms, workers: 8, resync: "@every 6h" }
edge:
  routes:
    - { path: /, app: web }
    - { path: /media/, storage: web }
`)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Storage
	if s.Store.S3 == nil || s.Store.S3.PathStyle || s.Store.S3.Region != "eu-west-1" || s.Store.S3.SecretKey != "s3cret-long" ||
		!filepath.IsAbs(s.Store.S3.CA) || s.Store.Site != "home" {
		t.Errorf("store = %+v; want it as written, the CA made absolute", s.Store.S3)
	}
	if r := s.Replica; r == nil || r.S3.Region != "us-east-1" || !r.S3.PathStyle || r.Site != "cloud" {
		t.Errorf("replica = %+v; want the default region and path style", s.Replica)
	}
	if b := s.Apps["web"]; b.Bucket != "web-media" || b.ReplicaBucket != "web-media-copy" {
		t.Errorf("apps.web = %+v", b)
	}
	if r := st.Edge.Routes[1]; r.Storage != "web" || r.App != "" {
		t.Errorf("routes[1] = %+v; want a storage route", r)
	}
}

func TestStorageProblems(t *testing.T) {
	const s3 = `{ endpoint: "http://127.0.0.1:9000", access_key: ak, secret_key: secret-key }`
	checkProblems(t, []struct{ src, path, msg string }{
		{"storage: {}\n", "storage.apps", "required: the apps that get a bucket"},
		{"storage: { apps: { wbe: {} } }\n", "storage.apps.wbe", `unknown app "wbe" (did you mean "web"?)`},
		{"storage: { apps: { web: { bucket: Web_Media } } }\n", "storage.apps.web.bucket", "S3's rule"},
		{"storage: { apps: { web: { bucket: ab } } }\n", "storage.apps.web.bucket", "3 to 63"},
		{"storage: { apps: { web: { replica_bucket: copy } } }\n", "storage.apps.web.replica_bucket", "there is no storage.replica"},
		{"storage: { store: { embedded: {}, s3: " + s3 + " }, apps: { web: {} } }\n", "storage.store", "embedded or s3, not both"},
		{"storage: { store: { embedded: { listen: \"7480\" } }, apps: { web: {} } }\n", "storage.store.embedded.listen", `did you mean ":7480"?`},
		{"storage: { store: { embedded: { listen: \"127.0.0.1:7070\" } }, apps: { web: {} } }\n", "storage.store.embedded.listen", "same address as admin.listen"},
		{"storage: { store: { embedded: { access_key: ak } }, apps: { web: {} } }\n", "storage.store.embedded.secret_key", "required"},
		{"storage: { store: { embedded: { access_key: ak, secret_key: short } }, apps: { web: {} } }\n", "storage.store.embedded.secret_key", "at least 8"},
		{"storage: { store: { s3: {} }, apps: { web: {} } }\n", "storage.store.s3.endpoint", "required"},
		{"storage: { store: { s3: { endpoint: \"s3.example.com\", access_key: a, secret_key: secret-key } }, apps: { web: {} } }\n", "storage.store.s3.endpoint", "http:// or https://"},
		{"storage: { store: { s3: { endpoint: \"https://h/bucket\", access_key: a, secret_key: secret-key } }, apps: { web: {} } }\n", "storage.store.s3.endpoint", "without a path"},
		{"storage: { store: { s3: { endpoint: \"https://u:p@h\", access_key: a, secret_key: secret-key } }, apps: { web: {} } }\n", "storage.store.s3.endpoint", "credentials do not go in URLs"},
		{"storage: { store: { s3: { endpoint: \"https://h\", secret_key: secret-key } }, apps: { web: {} } }\n", "storage.store.s3.access_key", "required"},
		{"storage: { store: { s3: { endpoint: \"https://h\", access_key: a } }, apps: { web: {} } }\n", "storage.store.s3.secret_key", "required"},
		{"storage: { store: { s3: { endpoint: \"https://h\", access_key: a, secret_key: secret-key, ca: nope.pem } }, apps: { web: {} } }\n", "storage.store.s3.ca", "cannot read"},
		{"storage: { store: { s3: { endpoint: \"https://h\", access_key: a, secret_key: secret-key, region: \"eu west\" } }, apps: { web: {} } }\n", "storage.store.s3.region", "region name"},
		{"storage: { store: { s3: { endpoint: \"https://h\", access_key: \"${NOPE}\", secret_key: secret-key } }, apps: { web: {} } }\n", "storage.store.s3.access_key", "environment variable NOPE is not set"},
		{"storage: { replica: {}, apps: { web: {} } }\n", "storage.replica.s3", "required: the replica is an existing S3-compatible store"},
		{"storage: { replica: { embedded: {} }, apps: { web: {} } }\n", "storage.replica.embedded", "unknown field"},
		{"storage: { store: { s3: " + s3 + " }, replica: { s3: " + s3 + " }, apps: { web: {} } }\n", "storage.replica.s3.endpoint", "same store survives nothing"},
		{"storage: { store: { site: Home }, apps: { web: {} } }\n", "storage.store.site", "lower-case"},
		{"storage: { apps: { web: {} }, replication: { interval: 10ms } }\n", "storage.replication.interval", "must be >= 100ms"},
		{"storage: { apps: { web: {} }, replication: { workers: 0 } }\n", "storage.replication.workers", "must be >= 1"},
		{"storage: { apps: { web: {} }, replication: { resync: \"every day\" } }\n", "storage.replication.resync", ""},
		{"storage: { apps: { web: {} }, replication: { resync: \"\" } }\n", "storage.replication.resync", "required"},
		{"storage: { apps: { web: {} }, replicaton: {} }\n", "storage.replicaton", `did you mean "replication"?`},
		{"storage: { apps: { web: {} } }\nedge: { routes: [{ path: /m/, storage: wbe }] }\n", "edge.routes[0].storage", `unknown app with a bucket under storage.apps "wbe"`},
		{"storage: { apps: { web: {} } }\nedge: { routes: [{ path: /m/, storage: web, strip_path: true }] }\n", "edge.routes[0].strip_path", "always strips"},
		{"edge: { routes: [{ path: /m/, storage: web }] }\n", "edge.routes[0].storage", "there is no storage section"},
	})
}

func TestUpstreams(t *testing.T) {
	st, err := parse(t, base+`upstreams:
  legacy:
    servers:
      - url: https://10.0.0.5:8443/app/
      - { url: "https://[::1]:8443", backup: true }
    host: legacy.internal:8443
    tls: { ca: cert.pem, server_name: legacy.internal }
    health: { path: /healthz, interval: 5s }
    retries: { attempts: 2 }
edge:
  routes:
    - { path: /, app: web }
    - { path: /legacy/, upstream: legacy, strip_path: true }
`)
	if err != nil {
		t.Fatal(err)
	}
	u := st.Upstreams["legacy"]
	if len(u.Servers) != 2 || !u.Servers[1].Backup || u.Host != "legacy.internal:8443" || !filepath.IsAbs(u.TLS.CA) ||
		u.Health != (UpstreamHealth{Path: "/healthz", Interval: Duration(5 * time.Second), Timeout: Duration(time.Second), Rise: 2, Fall: 3}) ||
		u.Retries.Attempts != 2 || u.Retries.Budget != 0.2 || u.Name != "legacy" {
		t.Errorf("upstreams.legacy = %+v", u)
	}
	if r := st.Edge.Routes[1]; r.Upstream != "legacy" || !r.StripPath {
		t.Errorf("routes[1] = %+v", r)
	}
	if got := st.UpstreamNames; !reflect.DeepEqual(got, []string{"legacy"}) {
		t.Errorf("UpstreamNames = %q", got)
	}
}

func TestUpstreamProblems(t *testing.T) {
	const srv = "servers: [{ url: \"http://127.0.0.1:9000\" }]"
	checkProblems(t, []struct{ src, path, msg string }{
		{"upstreams: { api: {} }\n", "upstreams.api.servers", "required: at least one server"},
		{"upstreams: { api: { servers: [{ url: \"http://a\", backup: true }] } }\n", "upstreams.api.servers", "every server is a backup"},
		{"upstreams: { api: { servers: [{ url: \"ftp://a\" }] } }\n", "upstreams.api.servers[0].url", "http:// or https://"},
		{"upstreams: { api: { servers: [{ url: \"http://a?x=1\" }] } }\n", "upstreams.api.servers[0].url", "query or fragment"},
		{"upstreams: { api: { servers: [{ url: \"http://a b\" }] } }\n", "upstreams.api.servers[0].url", "not a URL"},
		{"upstreams: { api: { servers: [{ url: \"http://a:99999\" }] } }\n", "upstreams.api.servers[0].url", ""},
		{"upstreams: { api: { servers: [{ url: \"http://u:pw@a\" }] } }\n", "upstreams.api.servers[0].url", "credentials do not go in URLs"},
		{"upstreams: { api: { servers: [{ url: \"http://a/\" }, { url: \"http://A\" }] } }\n", "upstreams.api.servers[1].url", "same server as servers[0]"},
		{"upstreams: { api: { " + srv + ", host: \"a b\" } }\n", "upstreams.api.host", "must be upstream, client or a host name"},
		{"upstreams: { api: { " + srv + ", tls: { ca: missing.pem } } }\n", "upstreams.api.tls.ca", "cannot read"},
		{"upstreams: { api: { " + srv + ", tls: { server_name: \"a b\" } } }\n", "upstreams.api.tls.server_name", "host name"},
		{"upstreams: { api: { " + srv + ", health: { path: healthz } } }\n", "upstreams.api.health.path", "must start with"},
		{"upstreams: { api: { " + srv + ", health: { timeout: 5s } } }\n", "upstreams.api.health.timeout", "must be <= interval"},
		{"upstreams: { api: { " + srv + ", health: { rise: 0 } } }\n", "upstreams.api.health.rise", "must be >= 1"},
		{"upstreams: { api: { " + srv + ", retries: { attempts: 11 } } }\n", "upstreams.api.retries.attempts", "must be <= 10"},
		{"upstreams: { web: { " + srv + " } }\n", "upstreams.web", "is also an app"},
		{"upstreams: { Api: { " + srv + " } }\nedge: { routes: [{ app: web }] }\n", "upstreams.Api", "must be lower-case"},
		{"upstreams: { api: { " + srv + " } }\nedge: { routes: [{ path: /a/, upstream: apii }] }\n", "edge.routes[0].upstream", `unknown upstream "apii" (did you mean "api"?)`},
		{"upstreams: { api: { " + srv + " } }\nedge: { routes: [{ path: /a/, upstream: api, app: web }] }\n", "edge.routes[0]", "one of app, upstream and storage"},
		{"edge: { routes: [{ path: /a/ }] }\n", "edge.routes[0].app", "or upstream: or storage: instead"},
	})
}
