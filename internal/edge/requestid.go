package edge

import (
	"crypto/rand"
	"encoding/hex"
)

// requestIDHeader carries the request id to the app and back to the client.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id accepted from a trusted proxy.
const maxRequestIDLen = 128

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
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
