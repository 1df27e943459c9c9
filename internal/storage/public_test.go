package storage

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tandem-run/tandem/internal/balance"
)

// startReader runs a reader of the bucket "web-files" in s (and, with r,
// its copy "web-copy" there) until the test ends.
func startReader(t *testing.T, s, r *store, replicaFirst bool) *PublicReader {
	t.Helper()
	pair := &Pair{Bucket: Bucket{App: "web", Name: "web-files", Replica: "web-copy"}, Store: s.bucket("web-files")}
	o := PublicOptions{Pair: pair, Store: s.endpoint("storage.store.s3"), ReplicaFirst: replicaFirst,
		Pool: balance.Options{App: "web.storage", UpstreamTimeout: 10 * time.Second}, HealthInterval: 100 * time.Millisecond}
	if r != nil {
		pair.Replica = r.bucket("web-copy")
		e := r.endpoint("storage.replica.s3")
		o.Replica = &e
	}
	reader, err := NewPublicReader(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reader.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("reader's Run did not return")
		}
	})
	return reader
}

// read sends a request for path through the reader, as the edge does
// once the route's prefix is stripped.
func read(t *testing.T, r http.RoundTripper, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://site.example"+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := r.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitServed waits until the reader's stores pass their health checks
// and path is served.
func waitServed(t *testing.T, r http.RoundTripper, path, want string) {
	t.Helper()
	waitUntil(t, "served "+path, 20*time.Second, func() bool {
		req := httptest.NewRequest(http.MethodGet, "http://site.example"+path, nil)
		resp, err := r.RoundTrip(req)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && string(b) == want
	})
}

// TestPublicReader: the reader serves GET and HEAD of one object with
// the store's validators and the app's headers, answers conditions and
// ranges, refuses writes and paths that are no key, and passes none of
// the store's own fields or the client's credentials on.
func TestPublicReader(t *testing.T) {
	t.Parallel()
	s := startStore(t)
	r := startReader(t, s, nil, false)
	etag := put(t, s.bucket("web-files"), "dir/a b+c.txt", []byte("hello, world"))
	waitServed(t, r, "/dir/a%20b+c.txt", "hello, world")

	resp, body := read(t, r, http.MethodGet, "/dir/a%20b+c.txt", http.Header{"Authorization": {"Bearer stolen"}, "Cookie": {"s=1"}})
	if resp.StatusCode != http.StatusOK || body != "hello, world" || resp.Header.Get("ETag") != `"`+etag+`"` ||
		resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("GET = %d %q %v; want the object with its ETag, type and cache control", resp.StatusCode, body, resp.Header)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, "X-Amz-") || k == "Server" {
			t.Errorf("the store's field %s reached the client", k)
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("GET's headers = %v; want nosniff and a sandbox policy", resp.Header)
	}
	if resp, _ := read(t, r, http.MethodGet, "/dir/a%20b+c.txt", http.Header{"If-None-Match": {`"` + etag + `"`}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with the ETag = %d; want 304", resp.StatusCode)
	}
	if resp, body := read(t, r, http.MethodGet, "/dir/a%20b+c.txt", http.Header{"Range": {"bytes=0-4"}}); resp.StatusCode != http.StatusPartialContent || body != "hello" {
		t.Errorf("GET of a range = %d %q; want 206 \"hello\"", resp.StatusCode, body)
	}
	if resp, body := read(t, r, http.MethodHead, "/dir/a%20b+c.txt", nil); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD = %d %q; want 200 without a body", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPut, "/dir/x.txt", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/dir/a%20b+c.txt", http.StatusMethodNotAllowed},
		{http.MethodGet, "/missing.txt", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},                // the bucket's listing
		{http.MethodGet, "/dir/", http.StatusNotFound},            // a "directory"
		{http.MethodGet, "/dir/../../other", http.StatusNotFound}, // another bucket
		{http.MethodGet, "/dir//a", http.StatusNotFound},
	} {
		if resp, body := read(t, r, tc.method, tc.path, nil); resp.StatusCode != tc.want || strings.Contains(body, "<?xml") {
			t.Errorf("%s %s = %d %q; want %d and no store XML", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
	if resp, _ := read(t, r, http.MethodGet, "/dir/a%20b+c.txt", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET after the refusals = %d", resp.StatusCode)
	}
}

// TestPublicReaderReplicaFirst: a node in the replica's site reads from
// the replica, and asks the store for what the replica does not have
// yet; with the store down it serves from the replica alone.
func TestPublicReaderReplicaFirst(t *testing.T) {
	t.Parallel()
	s, rs := startStore(t), startStore(t)
	r := startReader(t, s, rs, true)
	put(t, s.bucket("web-files"), "both.txt", []byte("store's copy"))
	put(t, rs.bucket("web-copy"), "both.txt", []byte("replica's copy"))
	put(t, s.bucket("web-files"), "new.txt", []byte("not replicated yet"))
	waitServed(t, r, "/both.txt", "replica's copy")
	if resp, body := read(t, r, http.MethodGet, "/new.txt", nil); resp.StatusCode != http.StatusOK || body != "not replicated yet" {
		t.Errorf("GET of an object the replica lacks = %d %q; want the store's", resp.StatusCode, body)
	}
	s.Stop()
	if resp, body := read(t, r, http.MethodGet, "/both.txt", nil); resp.StatusCode != http.StatusOK || body != "replica's copy" {
		t.Errorf("GET with the store down = %d %q; want the replica's", resp.StatusCode, body)
	}
	if resp, _ := read(t, r, http.MethodGet, "/new.txt", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of what only the downed store has = %d; want 404", resp.StatusCode)
	}
}

// TestPublicReaderWrongCredentials: a store that refuses tandem's
// signature is the operator's problem, not the client's: 502.
func TestPublicReaderWrongCredentials(t *testing.T) {
	t.Parallel()
	s := startStore(t)
	s.bucket("web-files")
	e := s.endpoint("storage.store.s3")
	e.SecretKey = "not-the-secret"
	wrong, err := e.bucket("web-files")
	if err != nil {
		t.Fatal(err)
	}
	pair := &Pair{Bucket: Bucket{App: "web", Name: "web-files"}, Store: wrong}
	r, err := NewPublicReader(PublicOptions{Pair: pair, Store: e, Pool: balance.Options{App: "web.storage"}})
	if err != nil {
		t.Fatal(err)
	}
	// Straight to the target, as a read of a healthy store would go.
	resp, err := r.first.read(httptest.NewRequest(http.MethodGet, "http://x/k", nil))
	if err != nil {
		t.Fatal(err)
	}
	got := r.public(httptest.NewRequest(http.MethodGet, "http://x/k", nil), resp)
	if got.StatusCode != http.StatusBadGateway {
		t.Errorf("a read the store refused = %d; want 502", got.StatusCode)
	}
}

func TestObjectKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, key string
		ok        bool
	}{
		{"/a.png", "a.png", true},
		{"/dir/sub/a b.png", "dir/sub/a b.png", true},
		{"/", "", false},
		{"", "", false},
		{"a.png", "", false},
		{"/dir/", "", false},
		{"/./a", "", false},
		{"/a/../b", "", false},
		{"//a", "", false},
		{"/a\x00b", "", false},
		{"/" + strings.Repeat("k", 1025), "", false},
	} {
		if key, ok := objectKey(tc.path); key != tc.key || ok != tc.ok {
			t.Errorf("objectKey(%q) = %q, %v; want %q, %v", tc.path, key, ok, tc.key, tc.ok)
		}
	}
}

// FuzzObjectKey: a path from a client never yields a key that could name
// something outside the bucket, and a key escaped for the store's
// signature unescapes to itself.
func FuzzObjectKey(f *testing.F) {
	for _, s := range []string{"/a.png", "/dir/../x", "/%2e%2e/x", "//", "/a\x00", "/ü/é.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		key, ok := objectKey(path)
		if !ok {
			return
		}
		if key == "" || strings.HasSuffix(key, "/") || strings.Contains(key, "//") || strings.ContainsRune(key, 0) || len(key) > 1024 {
			t.Fatalf("objectKey(%q) = %q: not a key", path, key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("objectKey(%q) = %q: has a %q segment", path, key, seg)
			}
		}
		esc := escapeKey(key)
		if got, err := unescape(esc); err != nil || got != key {
			t.Fatalf("escapeKey(%q) = %q, which unescapes to %q, %v", key, esc, got, err)
		}
		if utf8.ValidString(key) && strings.ContainsAny(esc, " ?#") {
			t.Fatalf("escapeKey(%q) = %q: unescaped reserved characters", key, esc)
		}
	})
}

// unescape reverses escapeKey's percent-encoding.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", io.ErrUnexpectedEOF
		}
		hi, lo := strings.IndexByte("0123456789ABCDEF", s[i+1]), strings.IndexByte("0123456789ABCDEF", s[i+2])
		if hi < 0 || lo < 0 {
			return "", io.ErrUnexpectedEOF
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}
