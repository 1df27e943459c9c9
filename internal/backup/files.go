package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver, for VACUUM INTO
)

// FileSet is an app's files kept beside the database: a directory tree
// (uploads), a SQLite database (the embedded default) or an app's bucket
// in the storage's store, stored in the same repository, on the same
// schedule, restored and verified the same way. Exactly one of Dir,
// SQLite and Bucket is set.
type FileSet struct {
	Name   string // names the set in the repository: files/<name>/
	Dir    string // a directory: its regular files and subdirectories
	SQLite string // a SQLite database file, copied with VACUUM INTO, never raw
	// Bucket is an app's bucket, its objects copied incrementally (see
	// bucketset.go); the set's Name is BucketSetName of the app.
	Bucket *S3Bucket
}

// FileSnapshot describes one stored copy of a file set
// (files/<set>/<id>/snapshot.json, written last).
type FileSnapshot struct {
	ID    string    `json:"id"`
	Set   string    `json:"set"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`  // "dir", "sqlite" or "bucket"
	Files int       `json:"files"` // a bucket's: objects
	Bytes int64     `json:"bytes"` // content, uncompressed
	// Skipped are the entries not stored: symbolic links, sockets,
	// devices; a bucket's objects damaged in the store, with the cause.
	Skipped []string `json:"skipped"`
	// StoredBytes is what this snapshot wrote to the store: for a
	// bucket, the objects it copied and its index, not the objects it
	// shares with earlier snapshots.
	StoredBytes int64 `json:"stored_bytes"`
	// Parts are the stored stream: a tar of the directory or database,
	// or a bucket's index (one BucketEntry per line).
	Parts []Part `json:"parts"`
	// Copied is, for a bucket, how many objects this snapshot read from
	// it; the others had not changed since the set's previous snapshot.
	Copied int `json:"copied,omitempty"`
}

var setNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (s FileSet) validate() error {
	if s.Bucket != nil {
		if app, ok := strings.CutPrefix(s.Name, BucketSetPrefix); !ok || !setNameRE.MatchString(app) || s.Dir != "" || s.SQLite != "" {
			return fmt.Errorf("file set %q: a bucket's set is named %s<app> and has no directory or SQLite file", s.Name, BucketSetPrefix)
		}
		return nil
	}
	switch {
	case !setNameRE.MatchString(s.Name):
		return fmt.Errorf("file set name %q: lower-case letters, digits and '-', at most 63", s.Name)
	case (s.Dir == "") == (s.SQLite == ""):
		return fmt.Errorf("file set %s: give a directory or a SQLite file, not both or neither", s.Name)
	case s.Dir != "" && !filepath.IsAbs(s.Dir), s.SQLite != "" && !filepath.IsAbs(s.SQLite):
		return fmt.Errorf("file set %s: path must be absolute", s.Name)
	}
	return nil
}

func filesPrefix(set, id string) string { return "files/" + set + "/" + id + "/" }

// RunFileBackup stores a snapshot of every file set; it goes on past a set
// that fails and returns every error.
func (m *Manager) RunFileBackup(ctx context.Context) ([]FileSnapshot, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	var out []FileSnapshot
	var errs []error
	for _, set := range m.opts.Files {
		snap, err := m.backupFileSet(ctx, set)
		if err != nil {
			m.log.Error("file backup failed", "set", set.Name, "err", err)
			errs = append(errs, err)
			continue
		}
		m.log.Info("file backup done", "set", set.Name, "id", snap.ID, "files", snap.Files, "bytes", snap.Bytes, "stored_bytes", snap.StoredBytes)
		out = append(out, snap)
	}
	return out, errors.Join(errs...)
}

func (m *Manager) backupFileSet(ctx context.Context, set FileSet) (FileSnapshot, error) {
	if err := set.validate(); err != nil {
		return FileSnapshot{}, err
	}
	now := m.opts.Now().UTC()
	snap := FileSnapshot{ID: now.Format("20060102T150405Z"), Set: set.Name, Time: now, Kind: "dir"}
	if set.Bucket != nil {
		snap.Kind = "bucket"
		if err := m.backupBucket(ctx, set, &snap); err != nil {
			return snap, fmt.Errorf("file set %s: %w", set.Name, err)
		}
		return snap, m.putSnapshot(ctx, snap)
	}
	root := set.Dir
	if set.SQLite != "" {
		snap.Kind = "sqlite"
		tmp, err := os.MkdirTemp(filepath.Dir(set.SQLite), ".tandem-backup-")
		if err != nil {
			return snap, fmt.Errorf("file set %s: %w", set.Name, err)
		}
		defer os.RemoveAll(tmp)
		if err := vacuumInto(ctx, set.SQLite, filepath.Join(tmp, filepath.Base(set.SQLite))); err != nil {
			return snap, fmt.Errorf("file set %s: %w", set.Name, err)
		}
		root = tmp
	}
	prefix := filesPrefix(set.Name, snap.ID)
	pw := newPartWriter(ctx, m.repo.store, prefix+"data/", m.opts.PartSize)
	enc, err := m.repo.codec.encoder(pw, prefix+"data")
	if err != nil {
		pw.Close()
		return snap, err
	}
	werr := writeTree(enc, root, &snap)
	// Closed after a failed write too: the encoder's goroutines write to
	// pw until Close returns (see baseBackup).
	if cerr := enc.Close(); werr == nil {
		werr = cerr
	}
	parts, perr := pw.Close()
	if err := errors.Join(werr, perr); err != nil {
		return snap, fmt.Errorf("file set %s: %w", set.Name, err)
	}
	snap.Parts = parts
	for _, p := range parts {
		snap.StoredBytes += p.Size
	}
	return snap, m.putSnapshot(ctx, snap)
}

// putSnapshot writes a snapshot's description, which marks it complete.
func (m *Manager) putSnapshot(ctx context.Context, snap FileSnapshot) error {
	data, _ := json.MarshalIndent(snap, "", "  ")
	key := filesPrefix(snap.Set, snap.ID) + "snapshot.json"
	if _, err := m.repo.store.PutIfAbsent(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("file set %s: %w", snap.Set, err)
	}
	return nil
}

// FileSets are the manager's file sets: Options.Files.
func (m *Manager) FileSets() []FileSet { return slices.Clone(m.opts.Files) }

// vacuumInto writes a consistent copy of a live SQLite database: VACUUM
// INTO reads it in one transaction, whatever other processes write.
func vacuumInto(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sqlite %s: %w", src, err)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("sqlite %s: vacuum into: %w", src, err)
	}
	return nil
}

// writeTree writes root's directories and regular files as a tar stream,
// in name order; other entries are listed in snap.Skipped.
func writeTree(w io.Writer, root string, snap *FileSnapshot) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			snap.Skipped = append(snap.Skipped, filepath.ToSlash(rel))
			return nil
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.CopyN(tw, f, fi.Size()) // a file growing meanwhile is cut at its size when listed
		snap.Files++
		snap.Bytes += n
		return err
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", root, err)
	}
	return tw.Close()
}

// FileSnapshots lists a set's complete snapshots, oldest first.
func (r *Repository) FileSnapshots(ctx context.Context, set string) ([]FileSnapshot, error) {
	var keys []string
	err := r.store.List(ctx, "files/"+set+"/", func(o ObjectInfo) error {
		if strings.HasSuffix(o.Key, "/snapshot.json") && strings.Count(o.Key, "/") == 3 {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list file set %s: %w", set, err)
	}
	var out []FileSnapshot
	for _, k := range keys {
		b, err := r.getStored(ctx, k)
		if err != nil {
			return nil, err
		}
		var s FileSnapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b FileSnapshot) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// RestoreFiles restores a set's snapshot (id, or the newest when empty)
// into dir, which must not exist or be empty. A SQLite set restores as the
// database file, named as the original.
func (m *Manager) RestoreFiles(ctx context.Context, set, id, dir string) (FileSnapshot, error) {
	snap, err := m.fileSnapshot(ctx, set, id)
	if err != nil {
		return snap, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return snap, fmt.Errorf("restore file set %s into %s: %w", set, dir, ErrDirNotEmpty)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return snap, err
	}
	if snap.Kind == "bucket" {
		return m.restoreBucket(ctx, snap, dir)
	}
	pr := newPartsReader(ctx, m.repo, snap.Parts)
	defer pr.Close()
	dec, err := m.repo.codec.decoder(pr, filesPrefix(set, snap.ID)+"data")
	if err != nil {
		return snap, fmt.Errorf("restore file set %s: %w", set, err)
	}
	defer dec.Close()
	n, err := extractTar(dec, dir, nil)
	if err != nil {
		return snap, fmt.Errorf("restore file set %s: %w", set, err)
	}
	if n != snap.Bytes {
		return snap, fmt.Errorf("restore file set %s: %d bytes restored, the snapshot recorded %d", set, n, snap.Bytes)
	}
	return snap, nil
}

// fileSnapshot is a set's snapshot id, or its newest when id is "".
func (m *Manager) fileSnapshot(ctx context.Context, set, id string) (FileSnapshot, error) {
	list, err := m.repo.FileSnapshots(ctx, set)
	if err != nil {
		return FileSnapshot{}, err
	}
	i := len(list) - 1
	if id != "" {
		i = slices.IndexFunc(list, func(s FileSnapshot) bool { return s.ID == id })
	}
	if i < 0 {
		return FileSnapshot{}, fmt.Errorf("restore file set %s: %w: no snapshot %q", set, ErrNoBackup, id)
	}
	return list[i], nil
}

// verifyFileSet restores the newest snapshot of a set into scratch and
// checks it: its size, and for SQLite, PRAGMA integrity_check. A
// bucket's is read, not written: every object's size and SHA-256.
func (m *Manager) verifyFileSet(ctx context.Context, set FileSet, scratch string) (string, error) {
	if set.Bucket != nil {
		snap, err := m.fileSnapshot(ctx, set.Name, "")
		if err != nil {
			return "", err
		}
		return m.verifyBucket(ctx, snap)
	}
	dir := filepath.Join(scratch, "files-"+set.Name)
	snap, err := m.RestoreFiles(ctx, set.Name, "", dir)
	if err != nil {
		return "", err
	}
	if set.SQLite == "" {
		return fmt.Sprintf("%s: %s, %d files, %d bytes", set.Name, snap.ID, snap.Files, snap.Bytes), nil
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, filepath.Base(set.SQLite))+"?mode=ro")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		return "", fmt.Errorf("file set %s: restored database fails integrity_check: %s %v", set.Name, res, err)
	}
	return fmt.Sprintf("%s: %s, sqlite integrity ok, %d bytes", set.Name, snap.ID, snap.Bytes), nil
}
