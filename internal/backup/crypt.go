package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Client-side encryption of stored objects, a streaming AEAD in the shape
// of Tink's AES-GCM-HKDF streaming: each object gets its own key, derived
// with HKDF-SHA256 from the repository key, a random salt written at the
// object's start and the object's key name (so an object moved to another
// name no longer decrypts). The plaintext is sealed in 64 KiB chunks with
// AES-256-GCM; a chunk's nonce is its index and a flag set on the last
// chunk only, so reordered, dropped or truncated chunks fail to open. The
// repository key is never stored with the data.

const (
	cryptMagic     = "TNDMENC1"
	cryptSaltSize  = 32
	cryptChunkSize = 64 << 10
	cryptHeader    = len(cryptMagic) + cryptSaltSize
)

// ErrDecrypt is wrapped by errors opening an encrypted object: the wrong
// key, or data altered after it was sealed.
var ErrDecrypt = errors.New("cannot decrypt")

// EncryptionKeySize is the size of a repository key: AES-256.
const EncryptionKeySize = 32

func objectAEAD(key []byte, salt []byte, name string) (cipher.AEAD, error) {
	sub, err := hkdf.Key(sha256.New, key, salt, "tandem backup object v1 "+name, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(nonce []byte, i uint64, last bool) []byte {
	clear(nonce)
	binary.BigEndian.PutUint64(nonce, i)
	if last {
		nonce[len(nonce)-1] = 1
	}
	return nonce
}

// encryptWriter seals what is written to it into w.
type encryptWriter struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte // plaintext of the current chunk
	out   []byte
	nonce []byte
	i     uint64
}

func newEncryptWriter(w io.Writer, key []byte, name string) (*encryptWriter, error) {
	salt := make([]byte, cryptSaltSize)
	rand.Read(salt)
	aead, err := objectAEAD(key, salt, name)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, cryptMagic); err != nil {
		return nil, err
	}
	if _, err := w.Write(salt); err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, aead: aead, buf: make([]byte, 0, cryptChunkSize), nonce: make([]byte, aead.NonceSize())}, nil
}

func (e *encryptWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(e.buf) == cryptChunkSize {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(e.buf[len(e.buf):cryptChunkSize], p)
		e.buf = e.buf[:len(e.buf)+k]
		p, n = p[k:], n+k
	}
	return n, nil
}

// seal writes the buffered chunk. A full chunk is kept back until more
// data comes (above), so the last chunk is always shorter than a full one.
func (e *encryptWriter) seal(last bool) error {
	e.out = e.aead.Seal(e.out[:0], chunkNonce(e.nonce, e.i, last), e.buf, nil)
	e.i++
	e.buf = e.buf[:0]
	_, err := e.w.Write(e.out)
	return err
}

// Close seals the last chunk (possibly empty). It does not close w.
func (e *encryptWriter) Close() error {
	if len(e.buf) == cryptChunkSize {
		if err := e.seal(false); err != nil {
			return err
		}
	}
	return e.seal(true)
}

// decryptReader opens what encryptWriter sealed; r is positioned after
// the magic.
type decryptReader struct {
	r     io.Reader
	aead  cipher.AEAD
	in    []byte
	plain []byte // unread plaintext of the current chunk
	nonce []byte
	i     uint64
	done  bool
}

func newDecryptReader(r io.Reader, key []byte, name string) (*decryptReader, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: the object is encrypted and no encryption key is configured", ErrDecrypt)
	}
	salt := make([]byte, cryptSaltSize)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrDecrypt, err)
	}
	aead, err := objectAEAD(key, salt, name)
	if err != nil {
		return nil, err
	}
	return &decryptReader{r: r, aead: aead, in: make([]byte, cryptChunkSize+aead.Overhead()), nonce: make([]byte, aead.NonceSize())}, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.done {
			return 0, io.EOF
		}
		if err := d.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

func (d *decryptReader) next() error {
	n, err := io.ReadFull(d.r, d.in)
	last := false
	switch {
	case err == io.ErrUnexpectedEOF || (err == io.EOF && n == 0):
		last = true
	case err != nil:
		return err
	}
	if n < d.aead.Overhead() {
		return fmt.Errorf("%w: truncated", ErrDecrypt)
	}
	plain, err := d.aead.Open(d.in[:0:0], chunkNonce(d.nonce, d.i, last), d.in[:n], nil)
	if err != nil {
		return fmt.Errorf("%w: chunk %d: wrong key or altered data", ErrDecrypt, d.i)
	}
	d.i++
	d.plain, d.done = plain, last
	return nil
}
