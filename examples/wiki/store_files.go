package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// File is an uploaded file's metadata; its bytes are in the upload
// directory under SHA256.
type File struct {
	Name        string
	SHA256      string
	ContentType string
	Size        int64
	UploadedBy  string
	Created     time.Time
}

// AddFile records an uploaded file; ErrExists if the name is taken by
// another upload. Retried after its first try committed, it finds its own
// row and succeeds.
func (s *Store) AddFile(ctx context.Context, f File) error {
	var n int64
	err := s.retry(ctx, func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO files (name, sha256, content_type, size, uploaded_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			f.Name, f.SHA256, f.ContentType, f.Size, f.UploadedBy, f.Created.Unix())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("add file %q: %w", f.Name, err)
	}
	if n == 0 {
		if old, err := s.File(ctx, f.Name); err == nil && old.SHA256 == f.SHA256 && old.Size == f.Size &&
			old.UploadedBy == f.UploadedBy && old.Created.Equal(f.Created) {
			return nil // this upload, recorded by an earlier try
		}
		return fmt.Errorf("add file %q: %w", f.Name, ErrExists)
	}
	return nil
}

const fileColumns = "name, sha256, content_type, size, uploaded_by, created_at"

func scanFile(row scanner) (File, error) {
	var f File
	var created int64
	err := row.Scan(&f.Name, &f.SHA256, &f.ContentType, &f.Size, &f.UploadedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, ErrNotFound
	}
	f.Created = time.Unix(created, 0).UTC()
	return f, err
}

// File returns the metadata of the file called name.
func (s *Store) File(ctx context.Context, name string) (File, error) {
	f, err := queryOne(ctx, s, scanFile, "SELECT "+fileColumns+" FROM files WHERE name = ?", name)
	if err != nil {
		return File{}, fmt.Errorf("read file %q: %w", name, err)
	}
	return f, nil
}

// Files returns every uploaded file, newest first.
func (s *Store) Files(ctx context.Context) ([]File, error) {
	files, err := queryAll(ctx, s, scanFile, "SELECT "+fileColumns+" FROM files ORDER BY created_at DESC, name")
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return files, nil
}
