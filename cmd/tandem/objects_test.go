package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/disktest"
	"github.com/tandem-run/tandem/internal/storage"
)

// wikiMediaStack is the wiki behind the edge with its bucket served at
// /media/; a test adds its storage section.
const wikiMediaStack = `
cluster: { name: shop, data_dir: "{{dir}}/tandem" }
edge:
  listen: "{{edge}}"
  routes:
    - { path: /media/, storage: wiki }
    - { path: /, app: wiki }
admin: { listen: "{{admin}}" }
apps:
  wiki:
    command: ["{{wiki}}", "serve"]
    instances: 2
    env: { WIKI_DATA: "{{dir}}/wiki" }
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1, fall: 3 }
`

// TestWikiUploadsInEmbeddedStore: on one node, the stack's storage
// section runs the embedded store; the wiki, told where its bucket is by
// the conventional environment, stores an upload there through the AWS
// SDK; its link leads to /media/, which the edge serves from the store,
// caches (the second read a hit) and revalidates by ETag. The upload
// outlives the instance that took it, and the node's status shows the
// store and the bucket. The bucket is part of the backups: `tandem db
// backup` stores its objects, and `tandem db restore --files storage:wiki`
// gives them back, byte for byte.
func TestWikiUploadsInEmbeddedStore(t *testing.T) {
	t.Parallel()
	storeAddr := freeAddr(t)
	n := startNode(t, wikiMediaStack+`storage:
  store: { embedded: { listen: "`+storeAddr+`" } }
  apps: { wiki: {} }
backup: { schedule: "0 3 * * *" }
`)
	st := n.waitFor("2 healthy wiki instances", 30*time.Second, healthy("wiki", 2))
	if s := st.Storage; s == nil || s.Embedded == nil || s.Embedded.State != "running" || len(s.Buckets) != 1 ||
		s.Buckets[0].Bucket != "shop-wiki" || s.Buckets[0].PublicURL != "/media/" {
		t.Fatalf("status's storage = %+v; want the embedded store running, bucket shop-wiki at /media/", s)
	}
	base := "http://" + n.edge
	u := newWikiUser(t, base, "alice")
	photo := randomBytes(t, 100<<10)
	if code, body := u.upload("photo.png", photo); code != http.StatusSeeOther {
		t.Fatalf("upload: status %d\n%s", code, body)
	}
	loc := u.fileURL("photo.png")
	if want := "/media/" + sha256Hex(photo); loc != want {
		t.Fatalf("the file's link leads to %q; want %q", loc, want)
	}
	// The bytes are in the store's directory, not the wiki's.
	if _, err := os.Stat(filepath.Join(st.Storage.Embedded.Dir, "shop-wiki", sha256Hex(photo))); err != nil {
		t.Errorf("the upload is not in the store's directory: %v", err)
	}

	code, got, cs := getBytes(t, base+loc, nil)
	if code != http.StatusOK || !bytes.Equal(got, photo) || isHit(cs) {
		t.Fatalf("first GET %s = %d, %d bytes (%s); want the upload, a miss", loc, code, len(got), cs)
	}
	if code, got, cs = getBytes(t, base+loc, nil); code != http.StatusOK || !bytes.Equal(got, photo) || !isHit(cs) {
		t.Errorf("second GET = %d, %d bytes (%s); want a hit", code, len(got), cs)
	}
	etag := `"` + md5Hex(photo) + `"`
	if code, _, _ = getBytes(t, base+loc, http.Header{"If-None-Match": {etag}}); code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match of the store's ETag = %d; want 304", code)
	}
	if code, _, _ = getBytes(t, base+"/media/no-such-object", nil); code != http.StatusNotFound {
		t.Errorf("GET of a missing object = %d; want 404", code)
	}

	// An instance dies: the upload is in the store, not on it. Out of
	// the cache, the link is answered by the other instance and the bytes
	// come from the store.
	if err := syscall.Kill(st.Apps[0].Instances[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	purgeURL(t, base+"/files/photo.png")
	purgeURL(t, base+loc)
	if again := u.fileURL("photo.png"); again != loc {
		t.Errorf("the link after the kill leads to %q; want %q", again, loc)
	}
	if code, got, cs := getBytes(t, base+loc, nil); code != http.StatusOK || !bytes.Equal(got, photo) || isHit(cs) {
		t.Errorf("GET %s after the kill and a purge = %d, %d bytes (%s); want the upload from the store", loc, code, len(got), cs)
	}
	// Its replacement stores and serves as the others do.
	n.waitFor("2 healthy wiki instances again", 30*time.Second, healthy("wiki", 2))
	doc := randomBytes(t, 10<<10)
	if code, body := u.upload("after-kill.txt", doc); code != http.StatusSeeOther {
		t.Fatalf("upload after an instance was killed: status %d\n%s", code, body)
	}
	if code, got, _ := getBytes(t, base+u.fileURL("after-kill.txt"), nil); code != http.StatusOK || !bytes.Equal(got, doc) {
		t.Errorf("GET after-kill.txt = %d, %d bytes; want the upload", code, len(got))
	}

	// The backup section backs the bucket up with the rest; restored
	// into a directory, each object is the file its key names.
	out, code := n.cli("db", "backup")
	if code != 0 || !strings.Contains(out, "file set storage:wiki: 2 objects (2 new or changed, copied)") {
		t.Fatalf("tandem db backup: exit %d\n%s", code, out)
	}
	t.Logf("tandem db backup:\n%s", out)
	if out, code := n.cli("db", "backups"); code != 0 || !strings.Contains(out, "file set storage:wiki: 1 snapshot (") || !strings.Contains(out, ": 2 objects, 110.0 KiB") {
		t.Errorf("tandem db backups: exit %d; want the bucket's snapshot listed\n%s", code, out)
	} else {
		t.Logf("tandem db backups:\n%s", out)
	}
	restored := filepath.Join(t.TempDir(), "bucket")
	out, code = n.cli("db", "restore", "--files", "storage:wiki", "--latest", "--to", restored)
	if code != 0 || !strings.Contains(out, "restored file set storage:wiki") {
		t.Fatalf("tandem db restore --files storage:wiki: exit %d\n%s", code, out)
	}
	t.Logf("tandem db restore --files storage:wiki --latest --to %s:\n%s", restored, out)
	for _, want := range [][]byte{photo, doc} {
		if got, err := os.ReadFile(filepath.Join(restored, sha256Hex(want))); err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored object %s: %d bytes, %v; want the %d bytes uploaded", sha256Hex(want), len(got), err, len(want))
		}
	}
	// Or into a bucket of the store.
	out, code = n.cli("db", "restore", "--files", "storage:wiki", "--latest", "--into-bucket", "shop-wiki-restored")
	if code != 0 || !strings.Contains(out, ": 2 objects") {
		t.Fatalf("tandem db restore --files storage:wiki --into-bucket shop-wiki-restored: exit %d\n%s", code, out)
	}
	t.Logf("tandem db restore --files storage:wiki --latest --into-bucket shop-wiki-restored:\n%s", out)
	if got, err := os.ReadFile(filepath.Join(st.Storage.Embedded.Dir, "shop-wiki-restored", sha256Hex(photo))); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("the photo restored into shop-wiki-restored: %d bytes, %v; want the %d bytes uploaded", len(got), err, len(photo))
	}
}

// TestStorageFailsOverToReplica: the wiki's uploads in an external store
// are copied to a replica (another site's store); the edge serves them
// from the store, and from the replica once the store is down; an upload
// while the store is down fails with a clear error and records nothing;
// when the store returns, uploads work again, the re-sync after the
// outage finds both sides the same, and nothing is lost.
func TestStorageFailsOverToReplica(t *testing.T) {
	t.Parallel()
	primary, replica := startS3Server(t), startS3Server(t)
	n := startNode(t, wikiMediaStack+`storage:
  store: { s3: { endpoint: "`+primary.URL()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  replica: { s3: { endpoint: "`+replica.URL()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  apps: { wiki: { replica_bucket: shop-wiki-copy } }
  replication: { interval: 100ms }
`)
	n.waitFor("2 healthy wiki instances", 30*time.Second, healthy("wiki", 2))
	base := "http://" + n.edge
	u := newWikiUser(t, base, "alice")
	photo := randomBytes(t, 100<<10)
	if code, body := u.upload("photo.png", photo); code != http.StatusSeeOther {
		t.Fatalf("upload: status %d\n%s", code, body)
	}
	key := sha256Hex(photo)
	loc := u.fileURL("photo.png")
	n.waitFor("the upload replicated", 20*time.Second, replicated(1))
	if got := replica.objects("shop-wiki-copy"); got[key] != md5Hex(photo) {
		t.Fatalf("the replica holds %v; want the upload %s", got, key)
	}

	if code, got, cs := getBytes(t, base+loc, nil); code != http.StatusOK || !bytes.Equal(got, photo) || isHit(cs) {
		t.Fatalf("first GET = %d, %d bytes (%s); want the upload, a miss", code, len(got), cs)
	}
	if _, _, cs := getBytes(t, base+loc, nil); !isHit(cs) {
		t.Errorf("second GET not a hit (%s)", cs)
	}
	purgeURL(t, base+loc)

	// The store's site is lost: reads come from the replica.
	primary.Stop()
	waitBytes(t, base+loc, photo, 20*time.Second)
	code, body := u.upload("during.txt", []byte("written while the store is down"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "file store is not answering; nothing was saved") || strings.Contains(body, "dial tcp") {
		t.Errorf("upload with the store down = %d\n%s\nwant 503 saying the file store is not answering, without the store's error", code, body)
	}
	if resp, err := u.c.Get(base + "/files/during.txt"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /files/during.txt after the failed upload = %v, %v; want 404 (nothing recorded)", resp, err)
	}
	st := n.waitFor("the store seen down", 20*time.Second, func(s admin.Status) bool {
		return s.Storage != nil && s.Storage.Replication != nil && !s.Storage.Replication.StoreDown.IsZero()
	})
	t.Logf("replication while the store is down: %+v", st.Storage.Replication.Buckets)

	// The store returns: uploads work, the re-sync converges.
	primary.Start()
	doc := []byte("written after the store came back")
	waitUpload(t, u, "after.txt", doc, 20*time.Second)
	n.waitFor("the re-sync after the store's return", 30*time.Second, func(s admin.Status) bool {
		r := s.Storage.Replication
		return r != nil && r.LastResync != nil && strings.HasPrefix(r.LastResync.Reason, "store back")
	})
	n.waitFor("both uploads replicated", 20*time.Second, replicated(2))
	final, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	rep := final.Storage.Replication.LastResync
	if rep.Err != "" || rep.Unresolved != 0 || rep.Failed != 0 || rep.DamagedStore+rep.DamagedReplica != 0 {
		t.Errorf("re-sync after the outage = %+v; want no error, nothing damaged", rep)
	}
	if out, code := n.cli("status"); code != 0 || !strings.Contains(out, "storage "+primary.URL()+"  replica "+replica.URL()) ||
		!regexp.MustCompile(`wiki +`+primary.URL()+`/shop-wiki +\S+ +2 +0 `).MatchString(out) || !strings.Contains(out, "last re-sync") {
		t.Errorf("tandem status: exit %d\n%s\nwant the store, the replica, the bucket with 2 objects and none pending, the last re-sync", code, out)
	}
	metrics := adminGet(t, n, "/metrics")
	// A copy the re-sync made before a poll saw the change has no lag.
	if got, ok := metricValue(metrics, `tandem_storage_replication_lag_seconds_count{app="wiki"}`); !ok || got < 1 {
		t.Errorf("/metrics: the lag histogram counts %v (found %v); want the copies' lags", got, ok)
	}
	for series, want := range map[string]float64{
		`tandem_storage_replication_writes_total{app="wiki",kind="copied"}`: 2,
		`tandem_storage_replication_pending{app="wiki"}`:                    0,
		`tandem_storage_up{app="wiki",side="store"}`:                        1,
		`tandem_storage_up{app="wiki",side="replica"}`:                      1,
	} {
		if got, ok := metricValue(metrics, series); !ok || got != want {
			t.Errorf("/metrics: %s = %v (found %v); want %v", series, got, ok, want)
		}
	}
	want := map[string]string{key: md5Hex(photo), sha256Hex(doc): md5Hex(doc)}
	for name, got := range map[string]map[string]string{"store": primary.objects("shop-wiki"), "replica": replica.objects("shop-wiki-copy")} {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the %s holds %v; want %v", name, got, want)
		}
	}
}

// TestStorageRefusedCredentials: a store that refuses the stack file's
// credentials stops `tandem up` before any app starts, with an error
// naming the fields to check.
func TestStorageRefusedCredentials(t *testing.T) {
	t.Parallel()
	s := startS3Server(t)
	sf := writeStack(t, `
cluster: { data_dir: "{{dir}}/tandem" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
storage:
  store: { s3: { endpoint: "`+s.URL()+`", access_key: `+s3TestAccess+`, secret_key: not-the-secret } }
  apps: { web: {} }
`)
	out, code := runCLI(t, "up", "-f", sf.path)
	if code == 0 || !strings.Contains(out, "storage.store.s3.access_key, storage.store.s3.secret_key: the store refused them") {
		t.Errorf("tandem up with a wrong secret: exit %d\n%s\nwant a failure naming storage.store.s3's keys", code, tail(out, 5))
	}
	if strings.Contains(out, `"instance started","app":"web"`) {
		t.Error("an app instance started before the store's credentials were checked")
	}
}

// TestWikiUploadOnFullDisk: with the embedded store's disk full, an
// upload fails with an error that says so and records nothing; what was
// stored before is still served; once space is freed, uploads work.
func TestWikiUploadOnFullDisk(t *testing.T) {
	t.Parallel()
	objects := disktest.Mount(t, 16<<20)
	storeAddr := freeAddr(t)
	n := startNode(t, strings.Replace(wikiMediaStack, "instances: 2", "instances: 1", 1)+`storage:
  store: { embedded: { listen: "`+storeAddr+`", dir: "`+objects+`" } }
  apps: { wiki: {} }
`)
	n.waitFor("a healthy wiki instance", 30*time.Second, healthy("wiki", 1))
	base := "http://" + n.edge
	u := newWikiUser(t, base, "alice")
	before := randomBytes(t, 100<<10)
	if code, body := u.upload("before.png", before); code != http.StatusSeeOther {
		t.Fatalf("upload: status %d\n%s", code, body)
	}
	fill := disktest.Fill(t, objects, 32<<10)
	code, body := u.upload("big.png", randomBytes(t, 1<<20))
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "file store is full; nothing was saved.") {
		t.Errorf("upload to a full store = %d\n%s\nwant 507 saying the file store is full", code, body)
	}
	if resp, err := u.c.Get(base + "/files/big.png"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /files/big.png after the failed upload = %v, %v; want 404 (nothing recorded)", resp, err)
	}
	if code, got, _ := getBytes(t, base+u.fileURL("before.png"), nil); code != http.StatusOK || !bytes.Equal(got, before) {
		t.Errorf("GET of the earlier upload on a full disk = %d, %d bytes; want it", code, len(got))
	}
	fill.Remove()
	if code, body := u.upload("big.png", randomBytes(t, 1<<20)); code != http.StatusSeeOther {
		t.Errorf("upload once space is freed: status %d\n%s", code, body)
	}
}

// TestUpgradeKeepsEmbeddedStore: tandem upgrade hands the embedded
// store's process to the new binary with the app instances: it keeps
// serving the same process, which the new binary supervises (restarts
// when killed).
func TestUpgradeKeepsEmbeddedStore(t *testing.T) {
	t.Parallel()
	storeAddr := freeAddr(t)
	n := startProcess(t, writeStack(t, `
cluster: { name: shop, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  routes:
    - { path: /media/, storage: web }
    - { path: /, app: web }
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1, fall: 3 }
storage:
  store: { embedded: { listen: "`+storeAddr+`" } }
  apps: { web: {} }
`))
	st := n.waitFor("a healthy instance", 30*time.Second, healthy("web", 1))
	emb := st.Storage.Embedded
	if emb == nil || emb.State != "running" || emb.PID == 0 {
		t.Fatalf("embedded store in status = %+v; want it running", emb)
	}
	access, secret, err := storage.EmbeddedCredentials(filepath.Join(filepath.Dir(emb.Dir), "storage"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := backup.NewS3Bucket(backup.S3Options{Endpoint: "http://" + storeAddr, Bucket: "shop-web", PathStyle: true, AccessKey: access, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("an object stored before the upgrade")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Put(ctx, "kept.txt", bytes.NewReader(body), int64(len(body)), backup.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, "http://"+n.edge+"/media/kept.txt", body, 10*time.Second)

	if out, code := n.cli("upgrade", "--binary", tandemV2Bin, "--drain", "5s"); code != 0 || !strings.Contains(out, "node runs "+upgradeVersion) {
		t.Fatalf("tandem upgrade: exit %d\n%s", code, out)
	}
	st = n.waitFor("the new version", 20*time.Second, func(s admin.Status) bool { return s.Version == upgradeVersion })
	if after := st.Storage.Embedded; after == nil || after.PID != emb.PID || after.State != "running" {
		t.Errorf("embedded store after the upgrade = %+v; want the same process (pid %d) running", after, emb.PID)
	}
	waitBytes(t, "http://"+n.edge+"/media/kept.txt", body, 10*time.Second)

	if err := syscall.Kill(emb.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.waitFor("the store restarted by the new binary", 20*time.Second, func(s admin.Status) bool {
		e := s.Storage.Embedded
		return e != nil && e.PID != emb.PID && e.PID != 0 && e.State == "running"
	})
	waitBytes(t, "http://"+n.edge+"/media/kept.txt", body, 10*time.Second)
}

// TestClusterReplicationMovesOnNodeLoss: in a cluster every node serves
// the apps' buckets from the shared store, one node replicates (status
// shows it there only), and when that node dies another takes the
// replication over: a write after the loss reaches the replica.
func TestClusterReplicationMovesOnNodeLoss(t *testing.T) {
	t.Parallel()
	slow(t)
	primary, replica := startS3Server(t), startS3Server(t)
	nodes := startCluster(t, clusterStack+`
storage:
  store: { s3: { endpoint: "`+primary.URL()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  replica: { s3: { endpoint: "`+replica.URL()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  apps: { web: {} }
  replication: { interval: 100ms }
`, "a")
	replicating := func() []string {
		var who []string
		for _, cn := range nodes {
			if st, err := cn.status(); err == nil && st.Storage != nil && st.Storage.Replication != nil {
				who = append(who, cn.name)
			}
		}
		return who
	}
	waitUntilTrue(t, "one node replicating", 30*time.Second, func() bool { return len(replicating()) == 1 })
	if who := replicating(); who[0] != "node-a" {
		t.Fatalf("%s replicates; want node-a, the first to start", who[0])
	}
	store, err := backup.NewS3Bucket(backup.S3Options{Endpoint: primary.URL(), Bucket: "e2e-web", PathStyle: true, AccessKey: s3TestAccess, SecretKey: s3TestSecret})
	if err != nil {
		t.Fatal(err)
	}
	putObject := func(key string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		body := []byte("object " + key)
		if _, err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body)), backup.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	putObject("before.txt")
	waitUntilTrue(t, "before.txt replicated", 20*time.Second, func() bool { return replica.objects("e2e-web")["before.txt"] != "" })

	nodes[0].kill(t)
	putObject("after.txt")
	waitUntilTrue(t, "after.txt replicated by another node", 60*time.Second, func() bool { return replica.objects("e2e-web")["after.txt"] != "" })
	nodes = nodes[1:]
	if who := replicating(); len(who) != 1 {
		t.Errorf("nodes replicating after node-a's loss: %v; want one", who)
	}
}

// TestEmbeddedStoreRefusedOnJoin: a node joining a cluster does not run
// an embedded store of its own, which its apps alone would see.
func TestEmbeddedStoreRefusedOnJoin(t *testing.T) {
	t.Parallel()
	sf := writeStack(t, `
cluster: { data_dir: "{{dir}}/tandem" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
storage:
  apps: { web: {} }
`)
	out, code := runCLI(t, "up", "-f", sf.path, "--join", "tdm1.not-a-token")
	if code == 0 || !strings.Contains(out, "a node joining a cluster cannot use the embedded store") {
		t.Errorf("tandem up --join with an embedded store: exit %d\n%s\nwant a refusal naming storage.store", code, tail(out, 5))
	}
}

// TestWikiUploadsSurviveNodeLoss: the wiki on the stack's PostgreSQL
// across three nodes, its uploads in a store every node reaches. An
// upload made through one node is served by every node's edge; SIGKILL
// of the node holding the database's primary loses no upload, and the
// wiki takes uploads again once the database has failed over.
func TestWikiUploadsSurviveNodeLoss(t *testing.T) {
	t.Parallel()
	slow(t)
	store := startS3Server(t)
	pgport, dbport := freePortOn(t, "127.0.0.1"), freePortOn(t, "127.0.0.1")
	tmpl := strings.NewReplacer("{{pgport}}", strconv.Itoa(pgport), "{{dbport}}", strconv.Itoa(dbport),
		"  cache: { memory: 0 }\n", "  cache: { memory: 16MiB }\n  routes:\n    - { path: /media/, storage: web }\n    - { path: /, app: web }\n").Replace(databaseStack) + `
storage:
  store: { s3: { endpoint: "` + store.URL() + `", access_key: ` + s3TestAccess + `, secret_key: ` + s3TestSecret + ` } }
  apps: { web: {} }
`
	nodes := startCluster(t, tmpl, "a")
	a, b, c := nodes[0], nodes[1], nodes[2]
	waitDatabase(t, c, "node-a", true, 90*time.Second)

	u := newWikiUser(t, "http://"+c.edge, "alice")
	photo := randomBytes(t, 100<<10)
	if code, body := u.upload("photo.png", photo); code != http.StatusSeeOther {
		t.Fatalf("upload through node-c: status %d\n%s", code, body)
	}
	loc := u.fileURL("photo.png")
	for _, n := range nodes {
		waitBytes(t, "http://"+n.edge+loc, photo, 10*time.Second)
	}

	a.kill(t)
	waitDatabase(t, c, "node-b", false, 60*time.Second)
	for _, n := range []*clusterNode{b, c} {
		waitBytes(t, "http://"+n.edge+loc, photo, 10*time.Second)
	}
	doc := randomBytes(t, 10<<10)
	waitUpload(t, u, "after-loss.txt", doc, 30*time.Second)
	ub := newWikiUser(t, "http://"+b.edge, "bob")
	waitBytes(t, "http://"+b.edge+ub.fileURL("after-loss.txt"), doc, 10*time.Second)
	if got := store.objects("e2e-web"); len(got) != 2 || got[sha256Hex(photo)] != md5Hex(photo) || got[sha256Hex(doc)] != md5Hex(doc) {
		t.Errorf("the store holds %v; want both uploads", got)
	}
}
