package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store is where backups live: a flat namespace of immutable objects named
// by slash-separated keys. Implementations check the SHA-256 of every object
// they return against the one recorded when it was written, and report a
// mismatch as a *CorruptError.
type Store interface {
	// Put writes the object at key from r (size bytes, read from its
	// start), replacing any object already there. r is read more than once
	// when the store needs to (a retry, a checksum pass).
	Put(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error)
	// PutIfAbsent writes the object only if no object exists at key; else
	// it fails with ErrExists and leaves the existing object alone. Of two
	// concurrent writers of the same key exactly one succeeds.
	PutIfAbsent(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error)
	// Get opens the object at key. Reading it to the end fails with a
	// *CorruptError if its content does not match its checksum; ErrNotFound
	// if there is no such object.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes the object at key; ErrNotFound if there is none.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix, in key
	// order, page by page; an error from fn stops the listing and is
	// returned.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes the object at key. Deleting a missing object is not
	// an error.
	Delete(ctx context.Context, key string) error
	// String names the store for messages: a path or s3://bucket/prefix.
	String() string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key      string
	Size     int64     // bytes stored
	SHA256   string    // hex SHA-256 of the stored bytes, recorded at write
	Modified time.Time // when it was written, as the store says
}

var (
	// ErrNotFound is returned for a key that holds no object.
	ErrNotFound = errors.New("object not found")
	// ErrExists is returned by PutIfAbsent when the key holds an object.
	ErrExists = errors.New("object already exists")
	// ErrUnreachable wraps errors reaching the store: a connection
	// refused or timed out, a DNS failure, a TLS failure.
	ErrUnreachable = errors.New("store unreachable")
	// ErrAccessDenied wraps a store's refusal of our credentials.
	ErrAccessDenied = errors.New("store refused access")
	// ErrNoBucket wraps a store's answer that the bucket does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrStoreFull wraps a store's answer that it has no space left.
	ErrStoreFull = errors.New("store is full")
)

// CorruptError reports an object whose content does not match what was
// written.
type CorruptError struct {
	Store string // the store, as its String method names it
	Key   string
	Want  string // the recorded SHA-256, hex; empty if none was recorded
	Got   string // the SHA-256 of what was read, hex
	Cause string // what is wrong when it is not a checksum mismatch
}

func (e *CorruptError) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("object %s in %s is corrupt: %s", e.Key, e.Store, e.Cause)
	}
	return fmt.Sprintf("object %s in %s is corrupt: sha256 %s, recorded %s", e.Key, e.Store, e.Got, e.Want)
}

// validKey reports whether key can name an object in every store: not
// empty, relative, no empty, "." or ".." segment, no NUL.
func validKey(key string) error {
	if key == "" || len(key) > 900 {
		return fmt.Errorf("invalid object key %q: must be 1 to 900 bytes", key)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] == 0 {
			return fmt.Errorf("invalid object key %q: contains NUL", key)
		}
		if i == len(key) || key[i] == '/' {
			seg := key[start:i]
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("invalid object key %q: empty, \".\" or \"..\" segment", key)
			}
			start = i + 1
		}
	}
	return nil
}
