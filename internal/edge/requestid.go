package edge

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// requestIDHeader carries the request id to the app and back to the client.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id accepted from a trusted proxy.
const maxRequestIDLen = 128

// newRequestID returns 16 random bytes in hex.
//
// A request id correlates log lines and is no secret: nothing is
// authorised by it, and a client may see its own. So it comes from
// math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// operating system, not predictable from one process to another) rather
// than from crypto/rand, whose system call cost more than the rest of
// making the id.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

// validRequestID reports whether an inbound id is safe to keep: short and
// made of characters that cannot break a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}
