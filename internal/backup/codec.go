package backup

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// codec turns content into stored bytes and back: zstd, then, with a key,
// encryption. zstd rather than gzip: it compresses WAL and data files
// better at several times gzip's speed, and decompresses at several hundred
// MB/s per core, which bounds how fast a restore goes.
type codec struct {
	key []byte // repository encryption key; nil: objects are not encrypted
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// encoder returns a writer whose output, once closed, is the stored form of
// what was written to it. name is the object's key (bound into the
// encryption). Closing does not close w.
func (c codec) encoder(w io.Writer, name string) (io.WriteCloser, error) {
	var enc *encryptWriter
	if c.key != nil {
		var err error
		if enc, err = newEncryptWriter(w, c.key, name); err != nil {
			return nil, err
		}
		w = enc
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	return &encoder{zw: zw, enc: enc}, nil
}

type encoder struct {
	zw  *zstd.Encoder
	enc *encryptWriter
}

func (e *encoder) Write(p []byte) (int, error) { return e.zw.Write(p) }

func (e *encoder) Close() error {
	if err := e.zw.Close(); err != nil {
		return err
	}
	if e.enc != nil {
		return e.enc.Close()
	}
	return nil
}

// encode returns the stored form of b.
func (c codec) encode(b []byte, name string) ([]byte, error) {
	var buf bytes.Buffer
	w, err := c.encoder(&buf, name)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decoder reads the content back from stored bytes, telling encrypted from
// plain objects by their first bytes, so that turning encryption on keeps
// older objects readable.
func (c codec) decoder(r io.Reader, name string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(cryptMagic))
	if err != nil && err != io.EOF {
		return nil, err // reading the stored bytes failed: a corrupt part, the store down
	}
	if len(head) < len(zstdMagic) {
		return nil, fmt.Errorf("object %s: too short to be one tandem wrote", name)
	}
	var src io.Reader = br
	switch {
	case bytes.Equal(head, []byte(cryptMagic)):
		br.Discard(len(cryptMagic))
		if src, err = newDecryptReader(br, c.key, name); err != nil {
			return nil, fmt.Errorf("object %s: %w", name, err)
		}
	case bytes.HasPrefix(head, zstdMagic):
	default:
		return nil, fmt.Errorf("object %s: unknown format (not zstd, not encrypted)", name)
	}
	zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(false))
	if err != nil {
		return nil, err
	}
	return zstdReadCloser{zr}, nil
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }

// decode returns the content of the stored bytes b.
func (c codec) decode(b []byte, name string) ([]byte, error) {
	r, err := c.decoder(bytes.NewReader(b), name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", name, err)
	}
	return out, nil
}
