package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Repository lays the archive out in a Store and encodes its objects:
//
//	wal/<file>                        one archived WAL file (segment, .partial, .history, .backup)
//	backups/<id>/data/<nnnnnn>        the base backup's tar stream, encoded, cut in parts
//	backups/<id>/backup_manifest      PostgreSQL's manifest of the backup, encoded
//	backups/<id>/backup.json          the backup's description (Backup), written last: its
//	                                  presence marks the backup complete
//	files/<set>/<id>/...              app files, laid out the same way (see FileSet)
//
// Every object but backup.json is zstd-compressed and, with a key,
// encrypted; backup.json is plain JSON so that listing backups needs no
// key, and holds no data.
type Repository struct {
	store Store
	codec codec
}

// ErrWALConflict is returned when a WAL file is archived under a name that
// already holds different content: two primaries writing the same
// timeline. The archived object is left as it was.
var ErrWALConflict = errors.New("archive already holds a different file of that name")

// NewRepository lays an archive out in store. key, if not nil, is the
// EncryptionKeySize-byte key objects are encrypted with.
func NewRepository(store Store, key []byte) (*Repository, error) {
	if key != nil && len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("repository: encryption key has %d bytes; want %d", len(key), EncryptionKeySize)
	}
	return &Repository{store: store, codec: codec{key: bytes.Clone(key)}}, nil
}

// Store is the repository's store.
func (r *Repository) Store() Store { return r.store }

func walKey(name string) string { return "wal/" + name }

// PutWAL archives one WAL file. An object already at its name with the
// same content is success (a retry after an answer that was lost); with
// other content it is ErrWALConflict.
func (r *Repository) PutWAL(ctx context.Context, name WALName, content []byte) (ObjectInfo, error) {
	key := walKey(name.String())
	stored, err := r.codec.encode(content, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive %s: %w", name, err)
	}
	info, err := r.store.PutIfAbsent(ctx, key, bytes.NewReader(stored), int64(len(stored)))
	if err == nil {
		return info, nil
	}
	if !errors.Is(err, ErrExists) {
		return ObjectInfo{}, fmt.Errorf("archive %s: %w", name, err)
	}
	old, err := r.GetWAL(ctx, name)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("archive %s: compare with the archived file: %w", name, err)
	}
	if !bytes.Equal(old, content) {
		return ObjectInfo{}, fmt.Errorf("archive %s: %w (%d bytes archived, sha256 %.12s; %d bytes offered, sha256 %.12s)",
			name, ErrWALConflict, len(old), sha256Hex(old), len(content), sha256Hex(content))
	}
	return r.store.Stat(ctx, key)
}

// GetWAL returns an archived WAL file's content, checked.
func (r *Repository) GetWAL(ctx context.Context, name WALName) ([]byte, error) {
	b, err := r.getObject(ctx, walKey(name.String()))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	return b, nil
}

// getObject reads a whole object, verifies its checksum, then decodes it:
// nothing is decoded before the stored bytes are known to be intact.
func (r *Repository) getObject(ctx context.Context, key string) ([]byte, error) {
	stored, err := r.getStored(ctx, key)
	if err != nil {
		return nil, err
	}
	b, err := r.codec.decode(stored, key)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (r *Repository) getStored(ctx context.Context, key string) ([]byte, error) {
	rc, info, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, info.Size))
	if _, err := io.Copy(buf, rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// putObject encodes content and writes it at key, only if absent.
func (r *Repository) putObject(ctx context.Context, key string, content []byte) (ObjectInfo, error) {
	stored, err := r.codec.encode(content, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return r.store.PutIfAbsent(ctx, key, bytes.NewReader(stored), int64(len(stored)))
}

// WALFile is an archived WAL file as listed.
type WALFile struct {
	Name WALName
	Size int64 // bytes stored
}

// ListWAL lists the archived WAL files in name order. Objects under wal/
// that are not WAL file names are skipped.
func (r *Repository) ListWAL(ctx context.Context) ([]WALFile, error) {
	var out []WALFile
	err := r.store.List(ctx, "wal/", func(o ObjectInfo) error {
		n, err := ParseWALName(o.Key[len("wal/"):])
		if err == nil {
			out = append(out, WALFile{Name: n, Size: o.Size})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name.String() < out[j].Name.String() })
	return out, nil
}

// Probe checks that the store answers and lets us in: one listing request.
func (r *Repository) Probe(ctx context.Context) error {
	err := r.store.List(ctx, "wal/", func(ObjectInfo) error { return errStopList })
	if err != nil && !errors.Is(err, errStopList) {
		return fmt.Errorf("probe %s: %w", r.store, err)
	}
	return nil
}
