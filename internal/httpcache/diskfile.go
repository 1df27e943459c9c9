package httpcache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// An object file of the disk tier is the body followed by a trailer:
// the metadata as JSON, its length (uint32, big endian) and a magic
// number. The trailer goes last so that a body can be streamed into the
// file before the metadata is final.
var diskMagic = [8]byte{'t', 'n', 'd', 'm', 'c', 'a', 'c', '1'}

// maxMetaLen bounds the trailer, so that a corrupt file cannot make the
// index rebuild allocate much.
const maxMetaLen = 4 << 20

// errBadObject marks a file that is not a valid object file.
var errBadObject = errors.New("not a cache object file")

// diskMeta is the stored metadata of one object file.
type diskMeta struct {
	Key      string        `json:"key"`
	Status   int           `json:"status"`
	Header   http.Header   `json:"header"`
	Vary     []string      `json:"vary,omitempty"`
	VaryVals []string      `json:"vary_vals,omitempty"`
	Tags     []string      `json:"tags,omitempty"`
	ReqTime  time.Time     `json:"req_time"`
	RespTime time.Time     `json:"resp_time"`
	InitAge  time.Duration `json:"init_age"`
	Lifetime time.Duration `json:"lifetime"`
	Gen      uint64        `json:"gen"`
	BodySize int64         `json:"body_size"`
}

func metaOf(e *entry) diskMeta {
	return diskMeta{
		Key: e.key, Status: e.status, Header: e.header, Vary: e.vary, VaryVals: e.varyVals,
		Tags: e.tags, ReqTime: e.reqTime, RespTime: e.respTime, InitAge: e.initAge,
		Lifetime: e.lifetime, Gen: e.gen.Load(), BodySize: e.body.size,
	}
}

// entry rebuilds an entry from stored metadata with the given body.
func (m *diskMeta) entry(b *body) *entry {
	e := newEntry(m.Key, m.Status, clipHeader(m.Header), m.ReqTime, m.RespTime)
	e.vary, e.varyVals, e.tags = m.Vary, m.VaryVals, m.Tags
	e.initAge, e.lifetime = m.InitAge, m.Lifetime
	e.body = b
	e.gen.Store(m.Gen)
	return e
}

// encodeTrailer returns the trailer for m.
func encodeTrailer(m *diskMeta) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode object metadata: %w", err)
	}
	if len(js) > maxMetaLen {
		return nil, fmt.Errorf("encode object metadata: %d bytes: too large", len(js))
	}
	var b bytes.Buffer
	b.Write(js)
	binary.Write(&b, binary.BigEndian, uint32(len(js)))
	b.Write(diskMagic[:])
	return b.Bytes(), nil
}

// readMeta reads the trailer of an object file of the given size.
func readMeta(f *os.File, size int64) (*diskMeta, error) {
	if size < 12 {
		return nil, errBadObject
	}
	var tail [12]byte
	if _, err := f.ReadAt(tail[:], size-12); err != nil {
		return nil, fmt.Errorf("read trailer: %w", err)
	}
	if !bytes.Equal(tail[4:], diskMagic[:]) {
		return nil, errBadObject
	}
	n := int64(binary.BigEndian.Uint32(tail[:4]))
	if n > maxMetaLen || n > size-12 {
		return nil, errBadObject
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, size-12-n); err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	var m diskMeta
	if err := json.Unmarshal(js, &m); err != nil || m.BodySize != size-12-n || m.Key == "" {
		return nil, errBadObject
	}
	return &m, nil
}

// writeFileAtomic writes data to path through a synced temp file and a
// rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
