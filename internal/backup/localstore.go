package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// LocalStore keeps objects as files under a directory: the embedded
// default, nothing to install. Each file holds the object's bytes followed
// by a trailer with its size and SHA-256, so a file damaged on disk is
// detected when read. Writes go to a temporary file that is synced, then
// renamed (Put) or hard-linked (PutIfAbsent: link fails if the name is
// taken, which makes the check and the write one atomic step), and the
// directory is synced.
type LocalStore struct {
	root string
}

var _ Store = (*LocalStore)(nil)

const (
	localMagic   = "TNDMOBJ1"
	trailerSize  = len(localMagic) + 8 + sha256.Size
	localTempDir = ".tmp"
)

// NewLocalStore opens (creating if needed) a store in dir.
func NewLocalStore(dir string) (*LocalStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, localTempDir), 0o700); err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, storeFSError(err))
	}
	return &LocalStore{root: abs}, nil
}

func (s *LocalStore) String() string { return s.root }

func (s *LocalStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put writes the object, replacing any at key.
func (s *LocalStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, false)
}

// PutIfAbsent writes the object unless key holds one (ErrExists).
func (s *LocalStore) PutIfAbsent(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, true)
}

func (s *LocalStore) put(ctx context.Context, key string, r io.ReadSeeker, size int64, exclusive bool) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if strings.HasPrefix(key, localTempDir+"/") || key == localTempDir {
		return ObjectInfo{}, fmt.Errorf("put %s: invalid object key: %s is reserved", key, localTempDir)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	tmp, _, err := s.writeTemp(r, size)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s in %s: %w", key, s.root, err)
	}
	defer os.Remove(tmp) // after a link or a rename this is a no-op or drops the spare name
	dst := s.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s in %s: %w", key, s.root, storeFSError(err))
	}
	if exclusive {
		err = os.Link(tmp, dst)
		if errors.Is(err, fs.ErrExist) {
			return ObjectInfo{}, fmt.Errorf("put %s: %w", key, ErrExists)
		}
	} else {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s in %s: %w", key, s.root, storeFSError(err))
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s in %s: %w", key, s.root, storeFSError(err))
	}
	return s.Stat(ctx, key)
}

// writeTemp copies size bytes of r and the trailer into a synced temporary
// file and returns its path and the hex SHA-256 of the body.
func (s *LocalStore) writeTemp(r io.ReadSeeker, size int64) (path, sum string, err error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", "", fmt.Errorf("rewind body: %w", err)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, localTempDir), "obj-*")
	if err != nil {
		return "", "", storeFSError(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size))
	if err != nil {
		return "", "", storeFSError(err)
	}
	if n != size {
		return "", "", fmt.Errorf("body has %d bytes, want %d", n, size)
	}
	trailer := make([]byte, 0, trailerSize)
	trailer = append(trailer, localMagic...)
	trailer = binary.BigEndian.AppendUint64(trailer, uint64(size))
	trailer = h.Sum(trailer)
	if _, err := f.Write(trailer); err != nil {
		return "", "", storeFSError(err)
	}
	if err := f.Sync(); err != nil {
		return "", "", storeFSError(err)
	}
	if err := f.Close(); err != nil {
		return "", "", storeFSError(err)
	}
	return f.Name(), hex.EncodeToString(trailer[len(trailer)-sha256.Size:]), nil
}

// Get opens the object at key; reading it to the end checks its checksum.
func (s *LocalStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, storeFSError(err))
	}
	info, err := s.readTrailer(f, key)
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	rc := struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, info.Size), f}
	return newCheckedReader(rc, s.root, info), info, nil
}

// Stat reads the object's trailer.
func (s *LocalStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, storeFSError(err))
	}
	defer f.Close()
	info, err := s.readTrailer(f, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return info, nil
}

func (s *LocalStore) readTrailer(f *os.File, key string) (ObjectInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, storeFSError(err)
	}
	if fi.IsDir() {
		return ObjectInfo{}, ErrNotFound
	}
	corrupt := func(cause string) error { return &CorruptError{Store: s.root, Key: key, Cause: cause} }
	if fi.Size() < int64(trailerSize) {
		return ObjectInfo{}, corrupt("file shorter than its trailer")
	}
	t := make([]byte, trailerSize)
	if _, err := f.ReadAt(t, fi.Size()-int64(trailerSize)); err != nil {
		return ObjectInfo{}, storeFSError(err)
	}
	if !bytes.Equal(t[:len(localMagic)], []byte(localMagic)) {
		return ObjectInfo{}, corrupt("trailer missing")
	}
	size := int64(binary.BigEndian.Uint64(t[len(localMagic):]))
	if size != fi.Size()-int64(trailerSize) {
		return ObjectInfo{}, corrupt(fmt.Sprintf("file holds %d bytes, trailer records %d", fi.Size()-int64(trailerSize), size))
	}
	return ObjectInfo{Key: key, Size: size, SHA256: hex.EncodeToString(t[len(localMagic)+8:]), Modified: fi.ModTime()}, nil
}

// List walks the directory below prefix and reports objects in key order.
func (s *LocalStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = s.path(prefix[:i])
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == localTempDir {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %q in %s: %w", prefix, s.root, storeFSError(err))
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := s.Stat(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // deleted while listing
		}
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object's file.
func (s *LocalStore) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s in %s: %w", key, s.root, storeFSError(err))
	}
	return nil
}

// storeFSError maps file system errors to the store's sentinels.
func storeFSError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrStoreFull, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return err
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
