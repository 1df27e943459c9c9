package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// An app's bucket is a file set of kind "bucket": each snapshot stores the
// objects that are new or changed since the set's previous snapshot (a
// different ETag or size), each as an object of its own, encoded like
// every other (zstd, encryption) and cut in parts; the objects that did
// not change are referred to where an earlier snapshot stored them. An
// index, encoded too (object keys are the app's data, and snapshot.json
// is plain), lists every object of the snapshot:
//
//	files/storage:<app>/<id>/objects/<n>/000000...  an object's bytes, as copied by this snapshot
//	files/storage:<app>/<id>/index/000000...        the index: one BucketEntry per line, in key order
//	files/storage:<app>/<id>/snapshot.json          written last, as for every file set
//
// Objects are streamed from the bucket to the store one at a time: a few
// parts of one (at most Options.PartSize each) are in memory, whatever its
// size. (Copying small objects side by side was tried: on loopback it
// gained a quarter, and left the embedded store with connections that
// delayed its shutdown by its whole grace.)

// BucketSetPrefix starts the name of an app's bucket's file set:
// "storage:<app>". No other file set's name has a colon.
const BucketSetPrefix = "storage:"

// BucketSetName is the name of the file set of app's bucket.
func BucketSetName(app string) string { return BucketSetPrefix + app }

// BucketEntry is one object of a bucket's snapshot.
type BucketEntry struct {
	Key      string     `json:"key"`
	Size     int64      `json:"size"`
	ETag     string     `json:"etag"`   // as the store reported it when copied
	SHA256   string     `json:"sha256"` // of its bytes, hex
	Modified time.Time  `json:"modified"`
	Meta     ObjectMeta `json:"meta"`
	// Data names the stored object: the encoding is bound to it, and its
	// parts are Parts (under the snapshot that copied it, perhaps an
	// earlier one).
	Data  string `json:"data"`
	Parts []Part `json:"parts"`
}

// backupBucket stores a snapshot of the bucket of set, copying only what
// changed since the set's newest snapshot.
func (m *Manager) backupBucket(ctx context.Context, set FileSet, snap *FileSnapshot) error {
	prev, err := m.previousIndex(ctx, set.Name)
	if err != nil {
		return err
	}
	prefix := filesPrefix(set.Name, snap.ID)
	pw := newPartWriter(ctx, m.repo.store, prefix+"index/", min(m.opts.PartSize, 4<<20))
	enc, err := m.repo.codec.encoder(pw, prefix+"index")
	if err != nil {
		pw.Close()
		return err
	}
	index := m.indexer(snap, json.NewEncoder(enc))
	seq := 0 // names the objects copied (or tried: a damaged one's parts are left for retention)
	werr := set.Bucket.List(ctx, func(o BucketObject) error {
		if e, ok := prev[o.Key]; ok && o.ETag != "" && e.ETag == o.ETag && e.Size == o.Size {
			return index(listed{key: o.Key, e: e, copied: true})
		}
		it := listed{key: o.Key, fresh: true}
		it.e, it.copied, it.err = m.copyObject(ctx, set.Bucket, o.Key, fmt.Sprintf("%sobjects/%d", prefix, seq))
		seq++
		return index(it)
	})
	if werr == nil {
		werr = enc.Close()
	}
	parts, perr := pw.Close()
	if err := errors.Join(werr, perr); err != nil {
		return err
	}
	snap.Parts = parts
	for _, p := range parts {
		snap.StoredBytes += p.Size
	}
	return nil
}

// listed is an object of the bucket as a snapshot takes it: shared with
// the previous snapshot, or copied now.
type listed struct {
	key    string
	fresh  bool // copied by this snapshot
	e      BucketEntry
	copied bool  // false: deleted since it was listed
	err    error // of the copy
}

// indexer returns what writes each object of a snapshot into its index,
// in key order, and counts it.
func (m *Manager) indexer(snap *FileSnapshot, je *json.Encoder) func(listed) error {
	return func(it listed) error {
		switch {
		case errors.Is(it.err, ErrDamagedObject):
			// Left out, loudly; the snapshots before keep their copy,
			// and the storage's re-sync repairs the store's.
			m.log.Error("bucket object not backed up", "set", snap.Set, "key", it.key, "err", it.err)
			snap.Skipped = append(snap.Skipped, it.key+" (damaged in the store: "+it.err.Error()+")")
			return nil
		case it.err != nil:
			return it.err
		case !it.copied:
			return nil // deleted since it was listed
		}
		if it.fresh {
			snap.Copied++
			for _, p := range it.e.Parts {
				snap.StoredBytes += p.Size
			}
		}
		snap.Files++
		snap.Bytes += it.e.Size
		return je.Encode(it.e)
	}
}

// previousIndex reads the index of the set's newest snapshot, by key;
// empty when there is none, or when it is damaged: then every object is
// copied again, rather than no snapshot taken until the index expires.
func (m *Manager) previousIndex(ctx context.Context, set string) (map[string]BucketEntry, error) {
	list, err := m.repo.FileSnapshots(ctx, set)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	prev := make(map[string]BucketEntry)
	err = m.bucketIndex(ctx, list[len(list)-1], func(e BucketEntry) error { prev[e.Key] = e; return nil })
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		m.log.Error("the previous snapshot's index is damaged: every object is copied again", "set", set, "snapshot", list[len(list)-1].ID, "err", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("the previous snapshot's index: %w", err)
	}
	return prev, nil
}

// ErrDamagedObject is returned when an object read from a bucket does not
// match the MD5 its ETag states: the store's copy is damaged.
var ErrDamagedObject = errors.New("object does not match its ETag")

// copyObject streams the object at key from b into the store as data. It
// reports false, and stores nothing, when the object was deleted since it
// was listed.
func (m *Manager) copyObject(ctx context.Context, b *S3Bucket, key, data string) (BucketEntry, bool, error) {
	rc, o, err := b.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return BucketEntry{}, false, nil
	}
	if err != nil {
		return BucketEntry{}, false, err
	}
	defer rc.Close()
	// A part holds the whole of a small object: no buffer of PartSize for
	// each of many small objects.
	pw := newPartWriter(ctx, m.repo.store, data+"/", int(min(int64(m.opts.PartSize), o.Size+64<<10)))
	enc, err := m.repo.codec.encoder(pw, data)
	if err != nil {
		pw.Close()
		return BucketEntry{}, false, err
	}
	sum, md := sha256.New(), md5.New()
	n, werr := io.Copy(enc, io.TeeReader(rc, io.MultiWriter(sum, md)))
	if werr == nil {
		werr = enc.Close()
	}
	parts, perr := pw.Close()
	if err := errors.Join(werr, perr); err != nil {
		return BucketEntry{}, false, fmt.Errorf("copy %s from %s: %w", key, b, err)
	}
	if n != o.Size {
		return BucketEntry{}, false, fmt.Errorf("copy %s from %s: %d bytes read, the store said %d", key, b, n, o.Size)
	}
	if want, ok := MD5ETag(o.ETag); ok && !bytes.Equal(md.Sum(nil), want[:]) {
		return BucketEntry{}, false, fmt.Errorf("copy %s from %s: %w: md5 %x, ETag %s", key, b, ErrDamagedObject, md.Sum(nil), o.ETag)
	}
	return BucketEntry{Key: key, Size: n, ETag: o.ETag, SHA256: hex.EncodeToString(sum.Sum(nil)), Modified: o.Modified,
		Meta: o.Meta, Data: data, Parts: parts}, true, nil
}

// bucketIndex calls fn for every entry of a bucket snapshot's index, in
// key order.
func (m *Manager) bucketIndex(ctx context.Context, snap FileSnapshot, fn func(BucketEntry) error) error {
	pr := newPartsReader(ctx, m.repo, snap.Parts)
	defer pr.Close()
	dec, err := m.repo.codec.decoder(pr, filesPrefix(snap.Set, snap.ID)+"index")
	if err != nil {
		return err
	}
	defer dec.Close()
	jd := json.NewDecoder(bufio.NewReader(dec))
	for {
		var e BucketEntry
		switch err := jd.Decode(&e); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("index of %s %s: %w", snap.Set, snap.ID, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// readObject streams an object of a bucket snapshot into w and checks
// that what it wrote is the object as copied: its size and SHA-256.
func (m *Manager) readObject(ctx context.Context, e BucketEntry, w io.Writer) error {
	pr := newPartsReader(ctx, m.repo, e.Parts)
	defer pr.Close()
	dec, err := m.repo.codec.decoder(pr, e.Data)
	if err != nil {
		return fmt.Errorf("object %s: %w", e.Key, err)
	}
	defer dec.Close()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), dec)
	if err != nil {
		return fmt.Errorf("object %s: %w", e.Key, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); n != e.Size || got != e.SHA256 {
		return &CorruptError{Store: m.repo.store.String(), Key: e.Data,
			Cause: fmt.Sprintf("object %s decodes to %d bytes, sha256 %s; the snapshot recorded %d bytes, sha256 %s", e.Key, n, got, e.Size, e.SHA256)}
	}
	return nil
}

// verifyBucket reads every object of a bucket snapshot and checks each
// one's size and SHA-256 (and, on the way, every stored part's).
func (m *Manager) verifyBucket(ctx context.Context, snap FileSnapshot) (string, error) {
	var objects int
	var bytes int64
	err := m.bucketIndex(ctx, snap, func(e BucketEntry) error {
		if err := m.readObject(ctx, e, io.Discard); err != nil {
			return err
		}
		objects++
		bytes += e.Size
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("file set %s, snapshot %s: %w", snap.Set, snap.ID, err)
	}
	if objects != snap.Files || bytes != snap.Bytes {
		return "", fmt.Errorf("file set %s, snapshot %s: the index lists %d objects, %d bytes; the snapshot recorded %d, %d bytes",
			snap.Set, snap.ID, objects, bytes, snap.Files, snap.Bytes)
	}
	return fmt.Sprintf("%s: %s, %d objects, %d bytes, every checksum ok", snap.Set, snap.ID, objects, bytes), nil
}

// bucketSetKeys lists what the bucket snapshots in keep refer to: their
// indexes and every object's parts, wherever stored.
func (m *Manager) bucketSetKeys(ctx context.Context, keep []FileSnapshot) (map[string]bool, error) {
	refs := make(map[string]bool)
	for _, s := range keep {
		refs[filesPrefix(s.Set, s.ID)+"snapshot.json"] = true
		for _, p := range s.Parts {
			refs[p.Key] = true
		}
		err := m.bucketIndex(ctx, s, func(e BucketEntry) error {
			for _, p := range e.Parts {
				refs[p.Key] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// pruneBucketSet deletes the snapshots of a bucket's set that retention
// does not keep, description first, then every object of the set that no
// kept snapshot refers to: those of the deleted snapshots that no later
// one reuses, and what failed snapshots left (untouched for
// incompleteAge, so that a snapshot in progress is left alone).
func (m *Manager) pruneBucketSet(ctx context.Context, set string, keep, drop []FileSnapshot, res *RetentionResult) error {
	for _, s := range drop {
		if err := m.repo.store.Delete(ctx, filesPrefix(set, s.ID)+"snapshot.json"); err != nil {
			return fmt.Errorf("delete %s: %w", filesPrefix(set, s.ID), err)
		}
		res.Deleted = append(res.Deleted, set+"/"+s.ID)
	}
	refs, err := m.bucketSetKeys(ctx, keep)
	if err != nil {
		return err
	}
	complete := make(map[string]bool)
	for _, s := range keep {
		complete[s.ID] = true
	}
	for _, s := range drop {
		complete[s.ID] = true // no longer, but done: nothing more is written there
	}
	var garbage []ObjectInfo
	err = m.repo.store.List(ctx, "files/"+set+"/", func(o ObjectInfo) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(o.Key, "files/"+set+"/"), "/")
		if !refs[o.Key] && (complete[id] || res.At.Sub(o.Modified) >= incompleteAge) {
			garbage = append(garbage, o)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list file set %s: %w", set, err)
	}
	for _, o := range garbage {
		if err := m.repo.store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("delete %s: %w", o.Key, err)
		}
		res.DeletedBytes += o.Size
	}
	for _, s := range keep {
		res.KeptBytes += s.StoredBytes
	}
	return nil
}
