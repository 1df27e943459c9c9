package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup/s3test"
)

// storeUnderTest is a store and a way to damage an object behind its back.
type storeUnderTest struct {
	Store
	corrupt func(t *testing.T, key string) // flips a byte of the stored object
}

// TestStoreContract runs the same contract against every Store.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		testStoreContract(t, func(t *testing.T) storeUnderTest {
			s, err := NewLocalStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return storeUnderTest{Store: s, corrupt: func(t *testing.T, key string) { flipByte(t, s.path(key)) }}
		})
	})
	t.Run("s3", func(t *testing.T) {
		gw := startGateway(t)
		n := 0
		testStoreContract(t, func(t *testing.T) storeUnderTest {
			n++
			prefix := fmt.Sprintf("c%d/", n)
			s := gw.Store(prefix)
			s.partSize = minPartSize
			s.pageSize = 3
			return storeUnderTest{Store: s, corrupt: func(t *testing.T, key string) {
				flipByte(t, filepath.Join(gw.Root, gw.Bucket, prefix, key))
			}}
		})
	})
}

// flipByte damages a stored object.
func flipByte(t *testing.T, path string) { s3test.FlipByte(t, path, 10) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func putBytes(ctx context.Context, s Store, key string, b []byte, exclusive bool) (ObjectInfo, error) {
	if exclusive {
		return s.PutIfAbsent(ctx, key, bytes.NewReader(b), int64(len(b)))
	}
	return s.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
}

func getBytes(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, _, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func testStoreContract(t *testing.T, newStore func(t *testing.T) storeUnderTest) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("put get stat", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int{0, 1, 100 << 10} {
			key := fmt.Sprintf("a/b/obj-%d", size)
			data := randomBytes(size)
			info, err := putBytes(ctx, s, key, data, false)
			if err != nil {
				t.Fatalf("Put(%s) = %v", key, err)
			}
			if info.Size != int64(size) || info.SHA256 != sha256Hex(data) {
				t.Errorf("Put(%s) = %+v; want size %d sha256 %s", key, info, size, sha256Hex(data))
			}
			got, err := getBytes(ctx, s, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get(%s) = %d bytes, %v; want the %d bytes put", key, len(got), err, size)
			}
			st, err := s.Stat(ctx, key)
			if err != nil || st.Size != int64(size) || st.SHA256 != sha256Hex(data) || st.Key != key {
				t.Errorf("Stat(%s) = %+v, %v; want size %d and its sha256", key, st, err, size)
			}
		}
	})

	t.Run("put rewinds and replaces", func(t *testing.T) {
		s := newStore(t)
		r := bytes.NewReader([]byte("first"))
		r.Seek(3, io.SeekStart) // Put reads from the start whatever the offset
		if _, err := s.Put(ctx, "k", r, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := putBytes(ctx, s, "k", []byte("second"), false); err != nil {
			t.Fatal(err)
		}
		if got, err := getBytes(ctx, s, "k"); err != nil || string(got) != "second" {
			t.Errorf("Get after two Puts = %q, %v; want \"second\"", got, err)
		}
	})

	t.Run("missing", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(missing) = %v; want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, "nope/deeper"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(missing) = %v; want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "nope"); err != nil {
			t.Errorf("Delete(missing) = %v; want nil", err)
		}
	})

	t.Run("put if absent", func(t *testing.T) {
		s := newStore(t)
		if _, err := putBytes(ctx, s, "once", []byte("one"), true); err != nil {
			t.Fatalf("PutIfAbsent(new key) = %v", err)
		}
		if _, err := putBytes(ctx, s, "once", []byte("two"), true); !errors.Is(err, ErrExists) {
			t.Fatalf("PutIfAbsent(taken key) = %v; want ErrExists", err)
		}
		if got, _ := getBytes(ctx, s, "once"); string(got) != "one" {
			t.Errorf("object after a refused PutIfAbsent = %q; want \"one\"", got)
		}
	})

	t.Run("put if absent race", func(t *testing.T) {
		s := newStore(t)
		for round := range 5 {
			key := fmt.Sprintf("race/%d", round)
			const writers = 4
			var wg sync.WaitGroup
			errs := make([]error, writers)
			bodies := make([][]byte, writers)
			for i := range writers {
				bodies[i] = randomBytes(64<<10 + i)
				wg.Go(func() { _, errs[i] = putBytes(ctx, s, key, bodies[i], true) })
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, ErrExists):
					t.Fatalf("round %d: writer %d: %v; want nil or ErrExists", round, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: no writer won", round)
			}
			if got, err := getBytes(ctx, s, key); err != nil || !bytes.Equal(got, bodies[winner]) {
				t.Fatalf("round %d: stored object is not the winner's (%v)", round, err)
			}
		}
	})

	t.Run("large", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(12<<20 + 123) // three parts at S3's minimum part size
		f := filepath.Join(t.TempDir(), "big")
		os.WriteFile(f, data, 0o600)
		file, _ := os.Open(f)
		defer file.Close()
		if _, err := s.PutIfAbsent(ctx, "big", file, int64(len(data))); err != nil {
			t.Fatalf("PutIfAbsent(12 MiB) = %v", err)
		}
		if _, err := s.PutIfAbsent(ctx, "big", file, int64(len(data))); !errors.Is(err, ErrExists) {
			t.Fatalf("second PutIfAbsent(12 MiB) = %v; want ErrExists", err)
		}
		if got, err := getBytes(ctx, s, "big"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get(big) = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
		}
		// A body with a ReaderAt is read in sections; one without is buffered.
		if _, err := s.Put(ctx, "big2", struct{ io.ReadSeeker }{bytes.NewReader(data)}, int64(len(data))); err != nil {
			t.Fatalf("Put(12 MiB, no ReaderAt) = %v", err)
		}
		if got, err := getBytes(ctx, s, "big2"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get(big2) = %d bytes, %v", len(got), err)
		}
	})

	t.Run("list and delete", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"wal/1", "wal/2", "wal/3/x", "wal-other", "walrus", "backups/b1/part", "wal/4", "wal/5"}
		for _, k := range keys {
			if _, err := putBytes(ctx, s, k, []byte(k), false); err != nil {
				t.Fatal(err)
			}
		}
		list := func(prefix string) []string {
			var got []string
			if err := s.List(ctx, prefix, func(o ObjectInfo) error {
				if o.Size != int64(len(o.Key)) {
					t.Errorf("List(%q): %s has size %d; want %d", prefix, o.Key, o.Size, len(o.Key))
				}
				got = append(got, o.Key)
				return nil
			}); err != nil {
				t.Fatalf("List(%q) = %v", prefix, err)
			}
			return got
		}
		if got, want := fmt.Sprint(list("wal/")), "[wal/1 wal/2 wal/3/x wal/4 wal/5]"; got != want {
			t.Errorf("List(wal/) = %s; want %s", got, want)
		}
		if got, want := fmt.Sprint(list("wal")), "[wal-other wal/1 wal/2 wal/3/x wal/4 wal/5 walrus]"; got != want {
			t.Errorf("List(wal) = %s; want %s", got, want)
		}
		if got := list(""); len(got) != len(keys) {
			t.Errorf("List(\"\") = %v; want all %d keys", got, len(keys))
		}
		stop := errors.New("stop")
		n := 0
		if err := s.List(ctx, "wal/", func(ObjectInfo) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("List with fn failing = %v after %d calls; want the fn's error after 1", err, n)
		}
		if err := s.Delete(ctx, "wal/3/x"); err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(list("wal/")), "[wal/1 wal/2 wal/4 wal/5]"; got != want {
			t.Errorf("List after Delete = %s; want %s", got, want)
		}
	})

	t.Run("corrupt object", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(4096)
		if _, err := putBytes(ctx, s, "wal/000000010000000000000001", data, true); err != nil {
			t.Fatal(err)
		}
		s.corrupt(t, "wal/000000010000000000000001")
		_, err := getBytes(ctx, s, "wal/000000010000000000000001")
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Key != "wal/000000010000000000000001" {
			t.Fatalf("Get(damaged object) = %v; want a *CorruptError naming the key", err)
		}
		t.Logf("damaged object: %v", err)
	})

	t.Run("invalid keys", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "/abs", "a//b", "a/../b", "..", "a/", "x\x00y"} {
			if _, err := putBytes(ctx, s, k, []byte("x"), false); err == nil {
				t.Errorf("Put(%q) = nil; want an error", k)
			}
		}
	})
}

// TestS3StoreErrors: a store that refuses or is down is an error naming the
// cause, one the caller can branch on.
func TestS3StoreErrors(t *testing.T) {
	t.Parallel()
	gw := startGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cases := []struct {
		name string
		opts func(o *S3Options)
		stop bool
		want error
	}{
		{"wrong secret", func(o *S3Options) { o.SecretKey = "wrong" }, false, ErrAccessDenied},
		{"unknown access key", func(o *S3Options) { o.AccessKey = "nobody" }, false, ErrAccessDenied},
		{"missing bucket", func(o *S3Options) { o.Bucket = "nosuchbucket" }, false, ErrNoBucket},
		{"store down", func(o *S3Options) {}, true, ErrUnreachable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := gw.Options("errors/")
			tc.opts(&o)
			s, err := NewS3Store(o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				gw.Stop()
				defer gw.Start()
			}
			_, err = putBytes(ctx, s, "k", []byte("x"), true)
			if !errors.Is(err, tc.want) {
				t.Errorf("PutIfAbsent = %v; want %v", err, tc.want)
			}
			err = s.List(ctx, "", func(ObjectInfo) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Errorf("List = %v; want %v", err, tc.want)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func TestNewS3StoreOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    S3Options
	}{
		{"no bucket", S3Options{}},
		{"small parts", S3Options{Bucket: "b", PartSize: 1 << 20}},
		{"missing ca file", S3Options{Bucket: "b", CAFile: "/nonexistent/ca.pem"}},
	} {
		if _, err := NewS3Store(tc.o); err == nil {
			t.Errorf("NewS3Store(%s) = nil error; want one", tc.name)
		}
	}
}
