package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// partsReader reads a backup's parts as one stream, each part checked
// against its SHA-256 before any of it is returned, the next part fetched
// while this one is read.
type partsReader struct {
	ctx   context.Context // the caller's; partsReader lives for one call
	repo  *Repository
	parts []Part
	cur   *bytes.Reader
	next  chan partData
}

type partData struct {
	b   []byte
	err error
}

func newPartsReader(ctx context.Context, repo *Repository, parts []Part) *partsReader {
	r := &partsReader{ctx: ctx, repo: repo, parts: parts}
	r.fetchNext()
	return r
}

func (r *partsReader) fetchNext() {
	if len(r.parts) == 0 {
		r.next = nil
		return
	}
	p := r.parts[0]
	r.parts = r.parts[1:]
	ch := make(chan partData, 1)
	r.next = ch
	go func() {
		b, err := r.repo.getStored(r.ctx, p.Key)
		if err == nil && (int64(len(b)) != p.Size || sha256Hex(b) != p.SHA256) {
			err = &CorruptError{Store: r.repo.store.String(), Key: p.Key, Want: p.SHA256, Got: sha256Hex(b),
				Cause: fmt.Sprintf("%d bytes, sha256 %s; the backup recorded %d bytes, sha256 %s", len(b), sha256Hex(b), p.Size, p.SHA256)}
		}
		ch <- partData{b, err}
	}()
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur != nil {
			n, err := r.cur.Read(p)
			if err != io.EOF || n > 0 {
				return n, nil
			}
			r.cur = nil
		}
		if r.next == nil {
			return 0, io.EOF
		}
		var d partData
		select {
		case d = <-r.next:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
		if d.err != nil {
			r.next = nil
			return 0, d.err
		}
		r.cur = bytes.NewReader(d.b)
		r.fetchNext()
	}
}

// Close waits for a fetch in flight.
func (r *partsReader) Close() error {
	if r.next != nil {
		select {
		case <-r.next:
		case <-r.ctx.Done():
		}
		r.next = nil
	}
	return nil
}

// ErrUnsafeTar is wrapped when a backup's tar stream holds an entry that
// would land outside the data directory or is of a kind a data directory
// does not hold.
var ErrUnsafeTar = errors.New("unsafe entry in backup")

// extractTar unpacks a backup's tar stream into dir, giving each entry to
// chown when it is not nil. Entries are confined to dir; symbolic links
// are refused (a base backup streamed as one tar holds only the default
// tablespace, and file sets store none), so no entry can be written
// through one.
func extractTar(r io.Reader, dir string, chown func(string) error) (int64, error) {
	tr := tar.NewReader(r)
	var total int64
	buf := make([]byte, 1<<20)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read backup: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return total, fmt.Errorf("%w: %q", ErrUnsafeTar, h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		mode := os.FileMode(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return total, err
			}
			if err := os.Chmod(dst, mode|0o700); err != nil {
				return total, err
			}
		case tar.TypeReg:
			n, err := writeFile(dst, tr, mode, buf)
			total += n
			if err != nil {
				return total, err
			}
		case tar.TypeSymlink:
			return total, fmt.Errorf("%w: symbolic link %q (tablespaces are not supported)", ErrUnsafeTar, h.Name)
		default:
			return total, fmt.Errorf("%w: %q of type %q", ErrUnsafeTar, h.Name, h.Typeflag)
		}
		if chown != nil {
			if err := chown(dst); err != nil {
				return total, err
			}
		}
		os.Chtimes(dst, h.ModTime, h.ModTime)
	}
}

func writeFile(dst string, r io.Reader, mode os.FileMode, buf []byte) (int64, error) {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode&0o700|0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(f, r, buf)
	if err != nil {
		f.Close()
		return n, fmt.Errorf("write %s: %w", dst, err)
	}
	return n, f.Close()
}
