package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/backup/s3test"
	"github.com/tandem-run/tandem/internal/storage"
)

// s3Server is an S3-compatible store on loopback (versitygw's posix
// backend, as the embedded store runs it: this binary in the gateway's
// mode), which a test stops and starts: another site's store, or a cloud
// bucket.
type s3Server struct {
	*s3test.Process
	t *testing.T
}

const (
	s3TestAccess = "e2e-access"
	s3TestSecret = "e2e-secret-0123456789"
)

func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := storage.GatewayOptions{Listen: freeAddr(t), Dir: filepath.Join(dir, "objects"), Meta: filepath.Join(dir, "meta"), Access: s3TestAccess, Secret: s3TestSecret}
	p := s3test.StartProcess(t, s3test.ProcessOptions{Name: "S3 server", Addr: opts.Listen, Args: append([]string{exe}, storage.GatewayArgs(opts)...),
		Env: storage.GatewayEnv(opts), Health: storage.GatewayHealthPath, Log: filepath.Join(dir, "gateway.log"),
		StartCmd: func(cmd *exec.Cmd) error {
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			return startOnForkThread(cmd)
		}})
	return &s3Server{Process: p, t: t}
}

// objects reads every object of bucket: key -> hex MD5 of its bytes.
func (s *s3Server) objects(bucket string) map[string]string {
	s.t.Helper()
	b, err := backup.NewS3Bucket(backup.S3Options{Endpoint: s.URL(), Bucket: bucket, PathStyle: true, AccessKey: s3TestAccess, SecretKey: s3TestSecret})
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
