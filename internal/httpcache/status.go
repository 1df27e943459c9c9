package httpcache

import (
	"strconv"
	"time"
)

// cacheStatus collects the parameters of this cache's Cache-Status
// member (RFC 9211) while a request is handled.
type cacheStatus struct {
	hit       bool
	fwd       string // bypass, method, uri-miss, vary-miss, miss, request, stale
	fwdStatus int
	stored    bool
	collapsed bool
	ttl       time.Duration
	hasTTL    bool
	detail    string
}

func (s *cacheStatus) setTTL(d time.Duration) {
	s.ttl, s.hasTTL = d, true
}

// format renders the member, e.g. `tandem; hit; ttl=42` or
// `tandem; fwd=uri-miss; fwd-status=200; stored; ttl=60`.
func (s *cacheStatus) format(name string) string {
	var buf [96]byte
	return string(s.appendTo(buf[:0], name))
}

// appendTo appends the member format renders to b.
func (s *cacheStatus) appendTo(b []byte, name string) []byte {
	b = append(b, name...)
	if s.hit {
		b = append(b, "; hit"...)
	}
	if s.fwd != "" {
		b = append(b, "; fwd="...)
		b = append(b, s.fwd...)
	}
	if s.fwdStatus != 0 {
		b = append(b, "; fwd-status="...)
		b = strconv.AppendInt(b, int64(s.fwdStatus), 10)
	}
	if s.stored {
		b = append(b, "; stored"...)
	}
	if s.collapsed {
		b = append(b, "; collapsed"...)
	}
	if s.hasTTL {
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, int64(s.ttl/time.Second), 10)
	}
	if s.detail != "" {
		b = append(b, "; detail="...)
		if isToken(s.detail) {
			b = append(b, s.detail...)
		} else {
			b = strconv.AppendQuote(b, s.detail)
		}
	}
	return b
}
