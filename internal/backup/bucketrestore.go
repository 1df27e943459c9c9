package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// A bucket's snapshot restores into a directory (RestoreFiles), or into a
// bucket (RestoreBucket).

// restoreBucket writes every object of a bucket snapshot into dir as a
// file named by its key, "/" separating directories, each checked as it
// is written, with the object's modification time. A key that cannot be
// a file there (an empty, "." or ".." segment; a key that is also
// another's directory) is listed in the result's Skipped, as are the
// objects the snapshot left out. Files and Bytes are what was restored.
func (m *Manager) restoreBucket(ctx context.Context, snap FileSnapshot, dir string) (FileSnapshot, error) {
	out, err := m.eachObject(ctx, snap, func(e BucketEntry) (string, error) {
		p, ok := keyPath(dir, e.Key)
		if !ok {
			return "not a file name", nil
		}
		err := m.restoreObject(ctx, e, p)
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist) {
			return err.Error(), nil
		}
		return "", err
	})
	if err != nil {
		return out, fmt.Errorf("restore file set %s: %w", snap.Set, err)
	}
	return out, nil
}

// eachObject calls restore for every object of a snapshot, which writes
// it somewhere or says why it did not; it returns the snapshot with Files
// and Bytes counting what was written and Skipped listing the others.
func (m *Manager) eachObject(ctx context.Context, snap FileSnapshot, restore func(BucketEntry) (skip string, err error)) (FileSnapshot, error) {
	out := snap
	out.Files, out.Bytes, out.Skipped = 0, 0, slices.Clone(snap.Skipped)
	err := m.bucketIndex(ctx, snap, func(e BucketEntry) error {
		skip, err := restore(e)
		switch {
		case err != nil:
			return err
		case skip != "":
			out.Skipped = append(out.Skipped, e.Key+" ("+skip+")")
		default:
			out.Files++
			out.Bytes += e.Size
		}
		return nil
	})
	return out, err
}

// restoreObject writes one object at p; a key ending in "/" with no
// bytes (a "folder" some tools make) is a directory.
func (m *Manager) restoreObject(ctx context.Context, e BucketEntry, p string) error {
	if strings.HasSuffix(e.Key, "/") && e.Size == 0 {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = m.readObject(ctx, e, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chtimes(p, e.Modified, e.Modified)
}

// keyPath is where an object's key lands under dir; false when it cannot
// be a path there.
func keyPath(dir, key string) (string, bool) {
	k := strings.TrimSuffix(key, "/")
	if k == "" || strings.ContainsRune(k, 0) {
		return "", false
	}
	for seg := range strings.SplitSeq(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return filepath.Join(dir, filepath.FromSlash(k)), true
}

// RestoreBucket writes the objects of a bucket's snapshot (id, or the
// newest when "") into the bucket into, creating it if missing, with the
// metadata they had. It never replaces an object: a key the bucket holds
// is left as it is and listed in the result's Skipped, so a snapshot can
// be restored into the app's own bucket to bring back what was deleted
// since. Each object is checked and spooled to a file of ScratchDir
// before it is written (the SDK needs a body it can read twice); objects
// larger than a single PUT (5 GiB) are refused. Files and Bytes are what
// was written.
func (m *Manager) RestoreBucket(ctx context.Context, set, id string, into *S3Bucket) (FileSnapshot, error) {
	snap, err := m.fileSnapshot(ctx, set, id)
	if err != nil {
		return snap, err
	}
	if snap.Kind != "bucket" {
		return snap, fmt.Errorf("restore file set %s into bucket %s: the set is a %s, not a bucket", set, into, snap.Kind)
	}
	if _, err := into.Ensure(ctx); err != nil {
		return snap, fmt.Errorf("restore file set %s: %w", set, err)
	}
	out, err := m.eachObject(ctx, snap, func(e BucketEntry) (string, error) {
		err := m.putObject(ctx, e, into)
		if errors.Is(err, ErrExists) {
			return "in the bucket already: left as it is", nil
		}
		return "", err
	})
	if err != nil {
		return out, fmt.Errorf("restore file set %s into %s: %w", set, into, err)
	}
	return out, nil
}

// putObject writes one object of a snapshot into b unless b holds its key.
func (m *Manager) putObject(ctx context.Context, e BucketEntry, b *S3Bucket) error {
	if _, err := b.Head(ctx, e.Key); err == nil {
		return ErrExists
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if e.Size > maxSinglePut {
		return fmt.Errorf("object %s: %d bytes, larger than a single PUT: restore it into a directory", e.Key, e.Size)
	}
	f, err := os.CreateTemp(m.opts.ScratchDir, "bucket-object-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := m.readObject(ctx, e, f); err != nil {
		return err
	}
	_, err = b.Put(ctx, e.Key, f, e.Size, PutOptions{Meta: e.Meta, IfAbsent: true})
	return err
}
