package httpcache

import (
	"strconv"
	"strings"
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
	var b strings.Builder
	b.Grow(64)
	b.WriteString(name)
	if s.hit {
		b.WriteString("; hit")
	}
	if s.fwd != "" {
		b.WriteString("; fwd=")
		b.WriteString(s.fwd)
	}
	if s.fwdStatus != 0 {
		b.WriteString("; fwd-status=")
		b.WriteString(strconv.Itoa(s.fwdStatus))
	}
	if s.stored {
		b.WriteString("; stored")
	}
	if s.collapsed {
		b.WriteString("; collapsed")
	}
	if s.hasTTL {
		b.WriteString("; ttl=")
		b.WriteString(strconv.FormatInt(int64(s.ttl/time.Second), 10))
	}
	if s.detail != "" {
		b.WriteString("; detail=")
		if isToken(s.detail) {
			b.WriteString(s.detail)
		} else {
			b.WriteString(strconv.Quote(s.detail))
		}
	}
	return b.String()
}
