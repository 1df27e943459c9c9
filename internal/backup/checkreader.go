package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// checkedReader hashes what it reads and, at the end of the object, fails
// with a *CorruptError unless the size and SHA-256 are the recorded ones.
type checkedReader struct {
	r     io.Reader
	c     io.Closer
	store string
	info  ObjectInfo
	h     hash.Hash
	n     int64
	err   error // sticky: the verdict once reached
}

func newCheckedReader(rc io.ReadCloser, store string, info ObjectInfo) *checkedReader {
	return &checkedReader{r: rc, c: rc, store: store, info: info, h: sha256.New()}
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.info.Size {
		c.err = &CorruptError{Store: c.store, Key: c.info.Key, Cause: fmt.Sprintf("more than the recorded %d bytes", c.info.Size)}
		return n, c.err
	}
	if err == io.EOF {
		c.err = c.verdict()
		return n, c.err
	}
	if err != nil {
		return n, fmt.Errorf("read %s: %w", c.info.Key, err)
	}
	return n, nil
}

func (c *checkedReader) verdict() error {
	if c.n != c.info.Size {
		return &CorruptError{Store: c.store, Key: c.info.Key, Cause: fmt.Sprintf("%d bytes, recorded %d", c.n, c.info.Size)}
	}
	if c.info.SHA256 == "" {
		return &CorruptError{Store: c.store, Key: c.info.Key, Cause: "no checksum recorded"}
	}
	if got := hex.EncodeToString(c.h.Sum(nil)); got != c.info.SHA256 {
		return &CorruptError{Store: c.store, Key: c.info.Key, Want: c.info.SHA256, Got: got}
	}
	return io.EOF
}

func (c *checkedReader) Close() error { return c.c.Close() }

// hashSeeker returns the hex SHA-256 of r's first size bytes and rewinds r.
func hashSeeker(r io.ReadSeeker, size int64) (string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, size))
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("body has %d bytes, want %d", n, size)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
