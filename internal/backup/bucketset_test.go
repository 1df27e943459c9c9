package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup/s3test"
)

// TestBucketSet: an app's bucket in versitygw is backed up into a
// repository in versitygw (encrypted); a second snapshot copies only what
// changed, and leaves out an object the store damaged; each snapshot
// restores to its own objects, byte for byte; the restore test reads
// every object; retention deletes what only the dropped snapshot held
// and keeps what the kept one shares with it; a damaged part of a shared
// object fails the restore test and the restore, naming it.
func TestBucketSet(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newTestBucket(t, g, "apps-wiki", s3test.SecretKey)
	if _, err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), PutOptions{Meta: ObjectMeta{ContentType: "application/octet-stream"}}); err != nil {
			t.Fatal(err)
		}
	}
	first := map[string][]byte{"a.txt": []byte("hello"), "2026/12/photo.jpg": randomBytes(300 << 10), "big": randomBytes(1<<20 + 1000), "empty": nil}
	for k, v := range first {
		put(k, v)
	}
	put("folder/", nil)

	repo, err := NewRepository(g.Store("repo/"), bytes.Repeat([]byte{7}, EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	set := BucketSetName("wiki")
	m, err := New(Options{Repository: repo, ScratchDir: t.TempDir(), PartSize: 128 << 10, Retention: Retention{KeepBackups: 1},
		Files: []FileSet{{Name: set, Bucket: b}},
		Now:   func() time.Time { clock = clock.Add(time.Minute); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := m.RunFileBackup(ctx)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("RunFileBackup = %+v, %v; want one snapshot", snaps, err)
	}
	s1 := snaps[0]
	if want := int64(5 + 300<<10 + 1<<20 + 1000); s1.Kind != "bucket" || s1.Files != 5 || s1.Copied != 5 || s1.Bytes != want {
		t.Fatalf("first snapshot = %d objects (%d copied), %d bytes, kind %s; want 5 (5), %d, bucket", s1.Files, s1.Copied, s1.Bytes, s1.Kind, want)
	}
	var keys []string
	m.bucketIndex(ctx, s1, func(e BucketEntry) error { keys = append(keys, e.Key); return nil })
	if want := []string{"2026/12/photo.jpg", "a.txt", "big", "empty", "folder/"}; !slices.Equal(keys, want) {
		t.Errorf("first snapshot's index lists %q; want %q, in key order", keys, want)
	}

	// Changed, deleted, added; and one added that the store damages.
	put("a.txt", []byte("hello again"))
	if err := b.Delete(ctx, "2026/12/photo.jpg"); err != nil {
		t.Fatal(err)
	}
	put("new.txt", []byte("new"))
	put("damaged", randomBytes(1000))
	flipByte(t, filepath.Join(g.Root, "apps-wiki", "damaged"))
	snaps, err = m.RunFileBackup(ctx)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("second RunFileBackup = %+v, %v", snaps, err)
	}
	s2 := snaps[0]
	if s2.Files != 5 || s2.Copied != 2 || len(s2.Skipped) != 1 || !strings.HasPrefix(s2.Skipped[0], "damaged (") {
		t.Fatalf("second snapshot = %d objects (%d copied), skipped %q; want 5 (a.txt and new.txt copied), the damaged one skipped", s2.Files, s2.Copied, s2.Skipped)
	}
	if s2.StoredBytes >= s1.StoredBytes/4 {
		t.Errorf("second snapshot stored %d bytes, the first %d; want a fraction: only the changes", s2.StoredBytes, s1.StoredBytes)
	}

	want1 := first
	want2 := map[string][]byte{"a.txt": []byte("hello again"), "big": first["big"], "empty": nil, "new.txt": []byte("new")}
	checkRestored := func(id string, want map[string][]byte) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "restored")
		got, err := m.RestoreFiles(ctx, set, id, dir)
		if err != nil {
			t.Fatalf("RestoreFiles(%s) = %v", id, err)
		}
		if got.Files != len(want)+1 {
			t.Errorf("RestoreFiles(%s) restored %d objects; want %d", id, got.Files, len(want)+1)
		}
		var files []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if len(files) != len(want) {
			t.Errorf("snapshot %s restored %q; want %d files", id, files, len(want))
		}
		for k, v := range want {
			if b, err := os.ReadFile(filepath.Join(dir, k)); err != nil || !bytes.Equal(b, v) {
				t.Errorf("snapshot %s: %s restored as %d bytes, %v; want the %d bytes written", id, k, len(b), err, len(v))
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "folder")); err != nil || !fi.IsDir() {
			t.Errorf("snapshot %s: folder/ not restored as a directory: %v", id, err)
		}
	}
	checkRestored(s1.ID, want1)
	checkRestored("", want2)

	// Into a bucket: every object of the first snapshot but the one the
	// bucket holds already, which is left alone; metadata as it was (versitygw makes
	// "folder/" a directory of its own content type).
	into := newTestBucket(t, g, "apps-wiki-restored", s3test.SecretKey)
	if _, err := into.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := into.Put(ctx, "a.txt", bytes.NewReader([]byte("mine")), 4, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rb, err := m.RestoreBucket(ctx, set, s1.ID, into)
	if err != nil || rb.Files != 4 || len(rb.Skipped) != 1 || !strings.HasPrefix(rb.Skipped[0], "a.txt (") {
		t.Fatalf("RestoreBucket = %d objects, skipped %q, %v; want 4 written, a.txt left", rb.Files, rb.Skipped, err)
	}
	for k, v := range map[string][]byte{"a.txt": []byte("mine"), "2026/12/photo.jpg": first["2026/12/photo.jpg"], "big": first["big"], "empty": nil, "folder/": nil} {
		rc, o, err := into.Get(ctx, k)
		if err != nil {
			t.Errorf("restored bucket: %s: %v", k, err)
			continue
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, v) || (k != "a.txt" && k != "folder/" && o.Meta.ContentType != "application/octet-stream") {
			t.Errorf("restored bucket: %s = %d bytes, %q; want %d bytes, the content type it had", k, len(got), o.Meta.ContentType, len(v))
		}
	}

	res, err := m.RunRestoreTest(ctx)
	if err != nil || len(res.Files) != 1 || !strings.Contains(res.Files[0], "5 objects") || !strings.Contains(res.Files[0], "every checksum ok") {
		t.Fatalf("RunRestoreTest = %+v, %v; want the bucket's 5 objects checked", res, err)
	}

	// Retention keeps the second snapshot: the first's objects it shares
	// stay, the photo it alone held goes.
	ret, err := m.ApplyRetention(ctx)
	if err != nil || !slices.Equal(ret.Deleted, []string{set + "/" + s1.ID}) {
		t.Fatalf("ApplyRetention = %+v, %v; want the first snapshot deleted", ret, err)
	}
	var left []string
	repo.Store().List(ctx, filesPrefix(set, s1.ID), func(o ObjectInfo) error { left = append(left, o.Key); return nil })
	var shared []string
	m.bucketIndex(ctx, s2, func(e BucketEntry) error {
		if strings.HasPrefix(e.Data, filesPrefix(set, s1.ID)) {
			for _, p := range e.Parts {
				shared = append(shared, p.Key)
			}
		}
		return nil
	})
	slices.Sort(shared)
	if len(shared) < 9 || !slices.Equal(left, shared) {
		t.Errorf("after retention the first snapshot's prefix holds %q; want exactly the parts the second shares %q", left, shared)
	}
	checkRestored("", want2)

	// What a failed snapshot left (no snapshot.json) goes once a day old,
	// not before: it could be a snapshot in progress.
	stray := filesPrefix(set, "20261201T000000Z") + "objects/0/000000"
	if _, err := putBytes(ctx, repo.Store(), stray, []byte("left over"), true); err != nil {
		t.Fatal(err)
	}
	exists := func(key string) bool { _, err := repo.Store().Stat(ctx, key); return err == nil }
	if _, err := m.ApplyRetention(ctx); err != nil || !exists(stray) {
		t.Fatalf("ApplyRetention = %v; want the fresh leftover kept (it is: %v)", err, exists(stray))
	}
	later, err := New(Options{Repository: repo, Retention: Retention{KeepBackups: 1}, Files: []FileSet{{Name: set, Bucket: b}},
		Now: func() time.Time { return time.Now().Add(25 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := later.ApplyRetention(ctx); err != nil || exists(stray) {
		t.Fatalf("ApplyRetention a day later = %v; want the leftover deleted (it is there: %v)", err, exists(stray))
	}
	checkRestored("", want2)

	// One byte of a part of "big", stored by the first snapshot and
	// shared by the second.
	var bigPart string
	m.bucketIndex(ctx, s2, func(e BucketEntry) error {
		if e.Key == "big" {
			bigPart = e.Parts[2].Key
		}
		return nil
	})
	flipByte(t, filepath.Join(g.Root, g.Bucket, "repo", filepath.FromSlash(bigPart)))
	var ce *CorruptError
	if _, err := m.RunRestoreTest(ctx); !errors.As(err, &ce) || ce.Key != bigPart {
		t.Errorf("RunRestoreTest with a damaged part = %v; want a *CorruptError naming %s", err, bigPart)
	}
	if _, err := m.RestoreFiles(ctx, set, "", filepath.Join(t.TempDir(), "r")); !errors.As(err, &ce) || ce.Key != bigPart {
		t.Errorf("RestoreFiles with a damaged part = %v; want a *CorruptError naming %s", err, bigPart)
	}

	// A damaged index of the newest snapshot: the next copies everything
	// again rather than fail until retention drops it.
	flipByte(t, filepath.Join(g.Root, g.Bucket, "repo", filepath.FromSlash(s2.Parts[0].Key)))
	snaps, err = m.RunFileBackup(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].Files != 5 || snaps[0].Copied != 5 {
		t.Fatalf("RunFileBackup after the index was damaged = %+v, %v; want the 5 objects copied again", snaps, err)
	}
	checkRestored("", want2)
}

func TestBucketSetValidate(t *testing.T) {
	b := &S3Bucket{}
	for _, s := range []FileSet{{Name: "wiki", Bucket: b}, {Name: "storage:Wiki", Bucket: b}, {Name: "storage:wiki", Bucket: b, Dir: "/x"}, {Name: "storage:wiki", Dir: "/x"}} {
		if err := s.validate(); err == nil {
			t.Errorf("validate(%+v) = nil; want an error", s)
		}
	}
	if err := (FileSet{Name: BucketSetName("wiki"), Bucket: b}).validate(); err != nil {
		t.Errorf("validate of storage:wiki = %v", err)
	}
}

func TestKeyPath(t *testing.T) {
	for key, want := range map[string]string{"a": "/r/a", "a/b.png": "/r/a/b.png", "dir/": "/r/dir", "../x": "", "a//b": "", "./a": "", "/a": "", "": "", "a/..": ""} {
		got, ok := keyPath("/r", key)
		if ok != (want != "") || got != want {
			t.Errorf("keyPath(/r, %q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// FuzzKeyPath: whatever an object's key, the path it restores to is
// inside the directory.
func FuzzKeyPath(f *testing.F) {
	for _, k := range []string{"a", "a/b", "dir/", "../x", "a/../../b", "./a", "/abs", "a//b", "..", "...", "a/.../b"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, ok := keyPath("/r", key)
		if !ok {
			return
		}
		rel, err := filepath.Rel("/r", p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.Clean(p) != p {
			t.Errorf("keyPath(/r, %q) = %q: not a path inside /r", key, p)
		}
	})
}
