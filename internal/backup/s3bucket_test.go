package backup

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup/s3test"
)

func newTestBucket(t *testing.T, g *gateway, bucket, secret string) *S3Bucket {
	t.Helper()
	o := g.Options("")
	o.Bucket, o.SecretKey = bucket, secret
	b, err := NewS3Bucket(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3BucketEnsure(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newTestBucket(t, g, "apps-web", s3test.SecretKey)
	if created, err := b.Ensure(ctx); err != nil || !created {
		t.Fatalf("Ensure of a missing bucket = %v, %v; want created", created, err)
	}
	if created, err := b.Ensure(ctx); err != nil || created {
		t.Fatalf("Ensure of an existing bucket = %v, %v; want it found", created, err)
	}
	wrong := newTestBucket(t, g, "apps-web", "not-the-secret")
	if _, err := wrong.Ensure(ctx); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Ensure with a wrong secret = %v; want ErrAccessDenied", err)
	}
	wrongNew := newTestBucket(t, g, "apps-other", "not-the-secret")
	if _, err := wrongNew.Ensure(ctx); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Ensure of a missing bucket with a wrong secret = %v; want ErrAccessDenied", err)
	}
	g.Stop()
	if _, err := b.Ensure(ctx); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Ensure with the store down = %v; want ErrUnreachable", err)
	}
}

func TestS3BucketObjects(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newTestBucket(t, g, g.Bucket, s3test.SecretKey)
	body := []byte("some bytes of an upload")
	sum := md5.Sum(body)
	meta := ObjectMeta{ContentType: "image/png", CacheControl: "public, max-age=60", ContentDisposition: `attachment; filename="x.png"`,
		User: map[string]string{"owner": "ann"}}
	const key = "dir/a b+ü!(1).png"
	etag, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), PutOptions{Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	if etag != hex.EncodeToString(sum[:]) {
		t.Errorf("Put ETag = %q; want the MD5 %x", etag, sum)
	}
	if got, ok := MD5ETag(etag); !ok || got != sum {
		t.Errorf("MD5ETag(%q) = %x, %v; want %x", etag, got, ok, sum)
	}
	if _, ok := MD5ETag(etag + "-2"); ok {
		t.Errorf("MD5ETag of a multipart ETag says MD5")
	}
	if _, err := b.Put(ctx, "bad-md5", bytes.NewReader(body), int64(len(body)), PutOptions{MD5: make([]byte, md5.Size)}); err == nil {
		t.Errorf("Put with a wrong Content-MD5 succeeded: the store must refuse it")
	}
	if _, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), PutOptions{IfMatch: "0123456789abcdef0123456789abcdef"}); !errors.Is(err, ErrChanged) {
		t.Errorf("Put with a stale If-Match = %v; want ErrChanged", err)
	}
	if again, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), PutOptions{IfMatch: etag, Meta: meta}); err != nil || again != etag {
		t.Errorf("Put with the current If-Match = %q, %v; want it written", again, err)
	}
	h, err := b.Head(ctx, key)
	if err != nil || h.Size != int64(len(body)) || h.ETag != etag || h.Meta.ContentType != meta.ContentType ||
		h.Meta.CacheControl != meta.CacheControl || h.Meta.ContentDisposition != meta.ContentDisposition || h.Meta.User["owner"] != "ann" {
		t.Errorf("Head = %+v, %v; want what was put", h, err)
	}
	rc, o, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) || o.ETag != etag {
		t.Errorf("Get = %q (%+v); want %q", got, o, body)
	}
	var listed []BucketObject
	if err := b.List(ctx, func(o BucketObject) error { listed = append(listed, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Key != key || listed[0].ETag != etag || listed[0].Size != int64(len(body)) {
		t.Errorf("List = %+v; want the one object", listed)
	}

	// A signed GET, built as the edge builds it: S3's escaping in RawPath.
	u := &url.URL{Scheme: "http", Host: g.Addr, Path: "/" + g.Bucket + "/" + key, RawPath: "/" + g.Bucket + "/dir/a%20b%2B%C3%BC%21%281%29.png"}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err := b.Sign(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(signed, body) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("signed GET = %d %q (%s); want 200 with the body", resp.StatusCode, signed, resp.Header.Get("Content-Type"))
	}
	unsigned, _ := http.Get(u.String())
	if unsigned.Body.Close(); unsigned.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET = %d; want 403: the bucket is not public", unsigned.StatusCode)
	}

	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete = %v; want ErrNotFound", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object = %v; want nil", err)
	}
	if _, _, err := b.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Get of a missing object = %v; want ErrNotFound naming it", err)
	}
}
