package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/backup/s3test"
)

// The tests' S3-compatible stores are this package's own gateway
// (versitygw's posix backend, as the node runs it): the test binary run
// with GatewayArg is the gateway, as the tandem binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == GatewayArg {
		os.Exit(GatewayMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

const (
	testAccess = "tandemtest"
	testSecret = "tandemtest-secret-0123456789"
)

// store is a gateway process on loopback that a test can stop and start.
type store struct {
	*s3test.Process
	t    testing.TB
	opts GatewayOptions
}

// startStore starts a gateway on a free loopback port over a fresh
// directory.
func startStore(t testing.TB) *store {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts := GatewayOptions{Listen: addr, Dir: filepath.Join(dir, "objects"), Meta: filepath.Join(dir, "meta"), Access: testAccess, Secret: testSecret}
	p := s3test.StartProcess(t, s3test.ProcessOptions{Name: "gateway", Addr: addr, Args: append([]string{exe}, GatewayArgs(opts)...),
		Env: GatewayEnv(opts), Health: GatewayHealthPath, Log: filepath.Join(dir, "gateway.log")})
	return &store{Process: p, t: t, opts: opts}
}

// endpoint is the store as Storage sees it.
func (s *store) endpoint(field string) Endpoint {
	return Endpoint{Field: field, URL: s.URL(), PathStyle: true, AccessKey: testAccess, SecretKey: testSecret}
}

// bucket is a client of one of the store's buckets, created if missing.
func (s *store) bucket(name string) *backup.S3Bucket {
	s.t.Helper()
	b, err := s.endpoint("test").bucket(name)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Ensure(ctx); err != nil {
		s.t.Fatal(err)
	}
	return b
}

// file is the path of an object's bytes in the store's directory.
func (s *store) file(bucket, key string) string {
	return filepath.Join(s.opts.Dir, bucket, filepath.FromSlash(key))
}

// put writes an object with a content type.
func put(t testing.TB, b *backup.S3Bucket, key string, body []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	etag, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), backup.PutOptions{Meta: backup.ObjectMeta{ContentType: "text/plain", CacheControl: "public, max-age=60"}})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return etag
}

// contents reads every object of b: key -> hex MD5 of its bytes.
func contents(t testing.TB, b *backup.S3Bucket) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(map[string]string)
	err := b.List(ctx, func(o backup.BucketObject) error {
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
		t.Fatalf("read %s: %v", b, err)
	}
	return out
}

// waitUntil polls cond every 20ms until it holds or timeout passes.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameContents reports whether two buckets hold the same keys and bytes,
// and says how they differ.
func sameContents(a, b map[string]string) (bool, string) {
	var diff []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diff = append(diff, "missing "+k)
		} else if w != v {
			diff = append(diff, "differs "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, "extra "+k)
		}
	}
	return len(diff) == 0, strings.Join(diff, ", ")
}
