package sitedns

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// NameServer is one NS record of the zone.
type NameServer struct {
	Name string // host name, e.g. "ns1.example.com"
	// Addrs are answered for Name when it is inside the zone (the glue
	// the parent's delegation carries too); they must be empty otherwise.
	Addrs []netip.Addr
}

// SOA timers. Nothing transfers the zone (every node answers on its own),
// so only Minimum (the negative-caching TTL, RFC 2308) matters; the others
// are the usual values, for tools that check them.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 7 * 24 * 3600
)

// kind is what a name in the zone holds.
type kind uint8

const (
	kindNone       kind = iota // nothing: NXDOMAIN
	kindEmpty                  // an empty non-terminal: a name above one that exists (NODATA, RFC 8020)
	kindApex                   // the zone's apex: SOA and NS
	kindServed                 // one of the names: A and AAAA of the serving site
	kindServer                 // a name server inside the zone: its own addresses
	kindApexServed             // the apex is also one of the names
)

// zone is the static part of the answers: the zone's names and records.
type zone struct {
	apex   string          // canonical (lower case, fully qualified)
	names  map[string]kind // every name that exists, canonical
	glue   map[string][]netip.Addr
	ns     []dns.RR // the apex's NS records
	soa    *dns.SOA
	ttl    uint32
	serial uint32
}

// newZone checks the zone's configuration and builds its records.
func newZone(apex string, names []string, servers []NameServer, hostmaster string, ttl time.Duration) (*zone, error) {
	if ttl < time.Second || ttl%time.Second != 0 {
		return nil, fmt.Errorf("ttl %s: must be whole seconds, at least 1s", ttl)
	}
	z := &zone{apex: canonical(apex), names: map[string]kind{}, glue: map[string][]netip.Addr{}, ttl: uint32(ttl / time.Second)}
	if _, ok := dns.IsDomainName(z.apex); !ok || dns.CountLabel(z.apex) < 2 {
		return nil, fmt.Errorf("zone %q: not a domain name of two labels or more", apex)
	}
	if len(names) == 0 || len(servers) == 0 {
		return nil, errors.New("a zone needs at least one name and one name server")
	}
	z.names[z.apex] = kindApex
	for _, n := range names {
		if err := z.add(n, kindServed); err != nil {
			return nil, err
		}
	}
	for _, s := range servers {
		if err := z.addServer(s); err != nil {
			return nil, err
		}
	}
	mbox, err := mailbox(hostmaster)
	if err != nil {
		return nil, err
	}
	z.serial = crc32.ChecksumIEEE(fmt.Appendf(nil, "%s|%q|%v|%s|%d", z.apex, names, servers, mbox, z.ttl))
	z.soa = &dns.SOA{Hdr: z.header(z.apex, dns.TypeSOA), Ns: z.ns[0].(*dns.NS).Ns, Mbox: mbox, Serial: z.serial,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: z.ttl}
	return z, nil
}

// add records a name of kind k, and its empty non-terminals.
func (z *zone) add(name string, k kind) error {
	n := canonical(name)
	if _, ok := dns.IsDomainName(n); !ok || !dns.IsSubDomain(z.apex, n) {
		return fmt.Errorf("name %q: not a domain name in zone %s", name, z.apex)
	}
	switch cur := z.names[n]; {
	case cur == kindApex && k == kindServed:
		k = kindApexServed
	case cur > kindEmpty:
		return fmt.Errorf("name %q: given twice, or both a name and a name server", name)
	}
	z.names[n] = k
	for p := parent(n); p != z.apex && p != ""; p = parent(p) {
		if _, ok := z.names[p]; !ok {
			z.names[p] = kindEmpty
		}
	}
	return nil
}

// addServer adds an NS record, and its addresses when it is in the zone.
func (z *zone) addServer(s NameServer) error {
	n := canonical(s.Name)
	if _, ok := dns.IsDomainName(n); !ok {
		return fmt.Errorf("name server %q: not a domain name", s.Name)
	}
	z.ns = append(z.ns, &dns.NS{Hdr: z.header(z.apex, dns.TypeNS), Ns: n})
	inside := dns.IsSubDomain(z.apex, n)
	switch {
	case inside && len(s.Addrs) == 0:
		return fmt.Errorf("name server %q: inside the zone, it needs addresses", s.Name)
	case !inside && len(s.Addrs) > 0:
		return fmt.Errorf("name server %q: outside the zone, its addresses are not ours to answer", s.Name)
	case inside:
		if err := z.add(n, kindServer); err != nil {
			return err
		}
		z.glue[n] = s.Addrs
	}
	return nil
}

// header is the header of a record of the zone's TTL.
func (z *zone) header(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: z.ttl}
}

// lookup returns what the zone holds at name (canonical), and whether
// name is in the zone at all.
func (z *zone) lookup(name string) (kind, bool) {
	if !dns.IsSubDomain(z.apex, name) {
		return kindNone, false
	}
	return z.names[name], true
}

// addrRecords returns the A or AAAA records (by qtype; both for ANY) of
// addrs, owned by name.
func (z *zone) addrRecords(name string, qtype uint16, addrs []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			out = append(out, &dns.A{Hdr: z.header(name, dns.TypeA), A: a.AsSlice()})
		case a.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			out = append(out, &dns.AAAA{Hdr: z.header(name, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	return out
}

// glueRecords returns the addresses of the name servers inside the zone,
// for the additional section of an NS answer.
func (z *zone) glueRecords() []dns.RR {
	var out []dns.RR
	for _, rr := range z.ns {
		n := rr.(*dns.NS).Ns
		out = append(out, z.addrRecords(n, dns.TypeANY, z.glue[n])...)
	}
	return out
}

// canonical is a name in lower case, fully qualified.
func canonical(name string) string { return dns.CanonicalName(name) }

// parent returns the name one label up; "" above the root.
func parent(name string) string {
	if name == "." {
		return ""
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// mailbox turns a mail address into the SOA's RNAME: the local part's
// dots escaped, then the domain ("host.master@example.com" →
// "host\.master.example.com.").
func mailbox(addr string) (string, error) {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || strings.ContainsAny(local, "\\ @") {
		return "", fmt.Errorf("hostmaster %q: not a mail address", addr)
	}
	m := strings.ReplaceAll(local, ".", `\.`) + "." + canonical(domain)
	if _, ok := dns.IsDomainName(m); !ok {
		return "", fmt.Errorf("hostmaster %q: not a mail address", addr)
	}
	return m, nil
}
