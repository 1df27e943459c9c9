package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"github.com/tandem-run/tandem/internal/backup"
)

// This file holds replication's writes: copying an object from the
// store to the replica, deleting the replica's copy, and restoring a
// damaged object of the store from the replica's copy. Each reads the
// object anew when it runs, so a decision made on an older listing
// never writes older bytes over newer ones.

// ErrCorrupt is returned when an object's bytes do not match its ETag
// (a single PUT's MD5) or the MD5 recorded with its copy.
var ErrCorrupt = errors.New("object bytes do not match their checksum")

// memSpool is the size up to which an object is held in memory while it
// is copied; larger ones go to a file in the spool directory.
const memSpool = 1 << 20

// spooled is an object read in full, with its MD5: the SDK sends a body
// it can read twice (signature, retries), which a store's stream is not.
type spooled struct {
	r    io.ReadSeeker
	size int64
	md5  [md5.Size]byte
	file *os.File // nil when in memory
}

func (s *spooled) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}

// spool reads an object of size bytes from rc into memory or a file
// under dir, hashing it.
func spool(rc io.ReadCloser, size int64, dir string) (*spooled, error) {
	defer rc.Close()
	h := md5.New()
	s := &spooled{size: size}
	if size <= memSpool {
		var buf bytes.Buffer
		buf.Grow(int(size))
		n, err := io.Copy(io.MultiWriter(&buf, h), rc)
		if err != nil {
			return nil, fmt.Errorf("read object: %w", err)
		}
		if n != size {
			return nil, fmt.Errorf("read object: %d bytes, the store said %d", n, size)
		}
		s.r = bytes.NewReader(buf.Bytes())
		copy(s.md5[:], h.Sum(nil))
		return s, nil
	}
	f, err := os.CreateTemp(dir, "copy-*")
	if err != nil {
		return nil, fmt.Errorf("spool object: %w", err)
	}
	s.file = f
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, the store said %d", n, size)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("spool object: %w", err)
	}
	s.r = f
	copy(s.md5[:], h.Sum(nil))
	return s, nil
}

// copyObject copies key from the store to the replica and returns the
// store's ETag of what it copied. An object whose bytes do not match its
// own single-PUT ETag is not copied: ErrCorrupt. A key gone meanwhile
// returns backup.ErrNotFound.
func copyObject(ctx context.Context, p *Pair, key, spoolDir string) (string, error) {
	rc, obj, err := p.Store.Get(ctx, key)
	if err != nil {
		return "", err
	}
	s, err := spool(rc, obj.Size, spoolDir)
	if err != nil {
		return "", fmt.Errorf("copy %s from %s: %w", key, p.Store, err)
	}
	defer s.close()
	if want, ok := backup.MD5ETag(obj.ETag); ok && want != s.md5 {
		return "", fmt.Errorf("copy %s from %s: %w: md5 %x, etag %s", key, p.Store, ErrCorrupt, s.md5, obj.ETag)
	}
	meta := obj.Meta
	meta.User = maps.Clone(meta.User)
	if meta.User == nil {
		meta.User = make(map[string]string, 2)
	}
	meta.User[metaSourceETag] = obj.ETag
	meta.User[metaMD5] = hex.EncodeToString(s.md5[:])
	if _, err := p.Replica.Put(ctx, key, s.r, s.size, backup.PutOptions{MD5: s.md5[:], Meta: meta}); err != nil {
		return "", err
	}
	return obj.ETag, nil
}

// deleteCopy deletes the replica's copy of key, unless the store has the
// key again: then the next poll copies it.
func deleteCopy(ctx context.Context, p *Pair, key string) (bool, error) {
	if _, err := p.Store.Head(ctx, key); !errors.Is(err, backup.ErrNotFound) {
		if err != nil {
			return false, err
		}
		return false, nil
	}
	return true, p.Replica.Delete(ctx, key)
}

// restoreObject writes the replica's copy of key over the store's
// damaged object, only while the store's ETag is still etag (an app
// writing the key meanwhile wins), and only if the copy matches the MD5
// recorded with it. The copy's own metadata (metaSourceETag, metaMD5)
// stays in the replica.
func restoreObject(ctx context.Context, p *Pair, key, etag, spoolDir string) error {
	rc, obj, err := p.Replica.Get(ctx, key)
	if err != nil {
		return err
	}
	s, err := spool(rc, obj.Size, spoolDir)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", key, p.Replica, err)
	}
	defer s.close()
	if want := obj.Meta.User[metaMD5]; want != "" && want != hex.EncodeToString(s.md5[:]) {
		return fmt.Errorf("restore %s from %s: %w", key, p.Replica, ErrCorrupt)
	}
	meta := obj.Meta
	meta.User = maps.Clone(meta.User)
	for k := range meta.User {
		if strings.HasPrefix(k, "tandem-") {
			delete(meta.User, k)
		}
	}
	_, err = p.Store.Put(ctx, key, s.r, s.size, backup.PutOptions{MD5: s.md5[:], Meta: meta, IfMatch: etag})
	return err
}
