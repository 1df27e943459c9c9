package edge

import (
	"net"
	"net/netip"
	"strings"
)

// trustedProxies decides which peers may tell the edge who the client is.
// The zero value trusts nobody: X-Forwarded-For and Forwarded from clients
// are then discarded and the TCP peer is the client.
type trustedProxies []netip.Prefix

// trusts reports whether addr is one of the trusted proxies.
func (t trustedProxies) trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientIP returns the address of the client that made the request.
//
// peer is the TCP peer (http.Request.RemoteAddr). When the peer is trusted,
// the X-Forwarded-For chain is walked from the right, skipping trusted
// proxies; the first untrusted hop is the client. A malformed hop stops the
// walk at the last address that could be believed, so a client cannot
// inject an arbitrary address by sending a garbled header.
func (t trustedProxies) clientIP(peer string, xff []string) netip.Addr {
	ip := parseHostIP(peer)
	return t.clientOf(ip, ip.IsValid() && t.trusts(ip), xff)
}

// clientOf is clientIP for a peer already parsed, trusted saying whether
// it is a trusted proxy.
func (t trustedProxies) clientOf(ip netip.Addr, trusted bool, xff []string) netip.Addr {
	if !trusted {
		return ip
	}
	hops := splitForwardedFor(xff)
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(hops[i])
		if err != nil {
			return ip
		}
		ip = hop.Unmap()
		if !t.trusts(ip) {
			return ip
		}
	}
	return ip
}

// splitForwardedFor flattens X-Forwarded-For header lines into hops.
func splitForwardedFor(lines []string) []string {
	var hops []string
	for _, line := range lines {
		for _, h := range strings.Split(line, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// parseHostIP parses "ip:port" or a bare IP; the zero Addr means invalid.
func parseHostIP(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}
