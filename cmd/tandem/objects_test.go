package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/disktest"
	"github.com/tandem-run/tandem/internal/storage"
)

// s3Server is an S3-compatible store on loopback (versitygw's posix
// backend, as the embedded store runs it: this binary in the gateway's
// mode), which a test stops and starts: another site's store, or a cloud
// bucket.
type s3Server struct {
	t    *testing.T
	opts storage.GatewayOptions
	log  string

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

const (
	s3TestAccess = "e2e-access"
	s3TestSecret = "e2e-secret-0123456789"
)

func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	dir := t.TempDir()
	s := &s3Server{t: t, log: filepath.Join(dir, "gateway.log"), opts: storage.GatewayOptions{
		Listen: freeAddr(t), Dir: filepath.Join(dir, "objects"), Meta: filepath.Join(dir, "meta"), Access: s3TestAccess, Secret: s3TestSecret}}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *s3Server) url() string { return "http://" + s.opts.Listen }

// start runs the store and waits until it serves.
func (s *s3Server) start() {
	s.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	log, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(exe, storage.GatewayArgs(s.opts)...)
	cmd.Env = append(os.Environ(), storage.GatewayEnv(s.opts)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startOnForkThread(cmd); err != nil {
		s.t.Fatalf("start S3 server: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url() + storage.GatewayHealthPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(s.log)
			s.t.Fatalf("S3 server exited at start:\n%s", b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("S3 server not serving on %s after 30s", s.opts.Listen)
}

// stop kills the store (a site lost, a crash) and waits for it to exit.
func (s *s3Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.t.Errorf("S3 server did not exit")
	}
}

// objects reads every object of bucket: key -> hex MD5 of its bytes.
func (s *s3Server) objects(bucket string) map[string]string {
	s.t.Helper()
	b, err := backup.NewS3Bucket(backup.S3Options{Endpoint: s.url(), Bucket: bucket, PathStyle: true, AccessKey: s3TestAccess, SecretKey: s3TestSecret})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(map[string]string)
	err = b.List(ctx, func(o backup.BucketObject) error {
		rc, _, err := b.Get(ctx, o.Key)
		if errors.Is(err, backup.ErrNotFound) {
			return nil // deleted since the listing
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		h := md5.New()
		if _, err := io.Copy(h, rc); err != nil {
			return err
		}
		out[o.Key] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		s.t.Fatalf("read %s: %v", bucket, err)
	}
	return out
}

// wikiUser is a logged-in user of the wiki behind the edge.
type wikiUser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWikiUser(t *testing.T, base, name string) *wikiUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &wikiUser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := u.c.PostForm(base+"/login", url.Values{"username": {name}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	return u
}

// upload posts a file through the upload form and returns the status and
// body of the answer.
func (u *wikiUser) upload(name string, content []byte) (int, string) {
	u.t.Helper()
	form, _ := getCached(u.t, u.c, u.base+"/upload")
	csrf := csrfRE.FindStringSubmatch(form)
	if csrf == nil {
		u.t.Fatalf("upload form without csrf:\n%s", form)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", csrf[1])
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, u.base+"/upload", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := u.c.Do(req)
	if err != nil {
		u.t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fileURL follows the wiki's link to a file: a redirect to where the edge
// serves it from the store.
func (u *wikiUser) fileURL(name string) string {
	u.t.Helper()
	resp, err := u.c.Get(u.base + "/files/" + name)
	if err != nil {
		u.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		u.t.Fatalf("GET /files/%s: status %d; want 302 to the store's public URL", name, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// getBytes GETs url and returns the status, the body and Cache-Status.
func getBytes(t *testing.T, url string, header http.Header) (int, []byte, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b, resp.Header.Get("Cache-Status")
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

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
// store and the bucket.
func TestWikiUploadsInEmbeddedStore(t *testing.T) {
	t.Parallel()
	storeAddr := freeAddr(t)
	n := startNode(t, wikiMediaStack+`storage:
  store: { embedded: { listen: "`+storeAddr+`" } }
  apps: { wiki: {} }
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
  store: { s3: { endpoint: "`+primary.url()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  replica: { s3: { endpoint: "`+replica.url()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
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
	primary.stop()
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
	primary.start()
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
	if out, code := n.cli("status"); code != 0 || !strings.Contains(out, "storage "+primary.url()+"  replica "+replica.url()) ||
		!regexp.MustCompile(`wiki +`+primary.url()+`/shop-wiki +\S+ +2 +0 `).MatchString(out) || !strings.Contains(out, "last re-sync") {
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

// replicated is a status condition: the replica holds objects copies and
// nothing is pending.
func replicated(objects int) func(admin.Status) bool {
	return func(s admin.Status) bool {
		r := s.Storage.Replication
		return r != nil && len(r.Buckets) == 1 && r.Buckets[0].Objects == objects && r.Buckets[0].Pending == 0
	}
}

// purgeURL sends a PURGE of url to the edge.
func purgeURL(t *testing.T, url string) {
	t.Helper()
	req, _ := http.NewRequest("PURGE", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PURGE %s: status %d", url, resp.StatusCode)
	}
}

// waitBytes GETs url until it answers 200 with want, within timeout.
func waitBytes(t *testing.T, url string, want []byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, got, _ := getBytes(t, url, nil)
		if code == http.StatusOK && bytes.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, %d bytes after %s; want 200 and the upload", url, code, len(got), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitUpload uploads until the wiki takes it, within timeout: the store
// has just come back.
func waitUpload(t *testing.T, u *wikiUser, name string, content []byte, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := u.upload(name, content)
		if code == http.StatusSeeOther {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s: status %d after %s\n%s", name, code, timeout, body)
		}
		time.Sleep(200 * time.Millisecond)
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
  store: { s3: { endpoint: "`+s.url()+`", access_key: `+s3TestAccess+`, secret_key: not-the-secret } }
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
  store: { s3: { endpoint: "`+primary.url()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
  replica: { s3: { endpoint: "`+replica.url()+`", access_key: `+s3TestAccess+`, secret_key: `+s3TestSecret+` } }
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
	store, err := backup.NewS3Bucket(backup.S3Options{Endpoint: primary.url(), Bucket: "e2e-web", PathStyle: true, AccessKey: s3TestAccess, SecretKey: s3TestSecret})
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

// waitUntilTrue polls cond every 100ms until it holds or timeout passes.
func waitUntilTrue(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
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
