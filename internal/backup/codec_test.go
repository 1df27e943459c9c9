package backup

import (
	"bytes"
	"errors"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, EncryptionKeySize)
	for _, size := range []int{0, 1, cryptChunkSize - 1, cryptChunkSize, 3 * cryptChunkSize, 1<<20 + 5} {
		data := randomBytes(size)
		for _, c := range []codec{{}, {key: key}} {
			stored, err := c.encode(data, "wal/x")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.decode(stored, "wal/x")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("decode(encode(%d bytes), encrypted=%v) = %d bytes, %v", size, c.key != nil, len(got), err)
			}
		}
	}
}

func TestEncryptionRefusesTampering(t *testing.T) {
	key := bytes.Repeat([]byte{7}, EncryptionKeySize)
	c := codec{key: key}
	data := bytes.Repeat([]byte("wal record "), 3*cryptChunkSize/11) // compresses, so several chunks only if random
	data = append(data, randomBytes(3*cryptChunkSize)...)
	stored, err := c.encode(data, "wal/a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("wal record wal record")) {
		t.Errorf("encrypted object holds plaintext")
	}
	cases := map[string]func() ([]byte, codec, string){
		"wrong key":       func() ([]byte, codec, string) { return stored, codec{key: bytes.Repeat([]byte{8}, 32)}, "wal/a" },
		"no key":          func() ([]byte, codec, string) { return stored, codec{}, "wal/a" },
		"other name":      func() ([]byte, codec, string) { return stored, c, "wal/b" },
		"flipped byte":    func() ([]byte, codec, string) { b := bytes.Clone(stored); b[len(b)/2] ^= 1; return b, c, "wal/a" },
		"last chunk gone": func() ([]byte, codec, string) { return stored[:len(stored)-200], c, "wal/a" },
		"truncated at a chunk": func() ([]byte, codec, string) {
			return stored[:cryptHeader+cryptChunkSize+16], c, "wal/a"
		},
	}
	for name, f := range cases {
		b, cc, n := f()
		if _, err := cc.decode(b, n); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: decode = %v; want ErrDecrypt", name, err)
		}
	}
}

func FuzzCodecDecode(f *testing.F) {
	key := bytes.Repeat([]byte{7}, EncryptionKeySize)
	plain, _ := codec{}.encode([]byte("hello"), "k")
	enc, _ := codec{key: key}.encode([]byte("hello"), "k")
	f.Add(plain)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		codec{key: key}.decode(b, "k") // must not panic or hang
	})
}
