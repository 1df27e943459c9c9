package sitedns

import (
	"net/netip"

	"github.com/miekg/dns"
)

// udpSize is the largest answer sent over UDP to a query that offers as
// much with EDNS, and the size the responder offers in return: 1232 bytes
// fit an IPv6 packet without fragmentation (DNS Flag Day 2020).
const udpSize = 1232

// targets returns the addresses a query for one of the names is answered
// with: the serving site's, or nil when no site is known to serve.
type targets func() []netip.Addr

// respond builds the answer to req, received over TCP or UDP. An answer
// over UDP is truncated to the size the query offers with EDNS (512 bytes
// without, udpSize at most); the TC bit then sends the resolver to TCP.
// It never returns nil: a query the zone has nothing to say about is
// REFUSED.
func (z *zone) respond(req *dns.Msg, tcp bool, target targets) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	m.Compress = true
	size := dns.MinMsgSize
	if tcp {
		size = dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			m.SetRcode(req, dns.RcodeBadVers)
			m.SetEdns0(udpSize, false)
			m.Question = nil // RFC 6891 §6.1.3: only the OPT record
			return m
		}
		if !tcp {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), udpSize)
		}
		m.SetEdns0(udpSize, false)
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	default:
		z.answer(m, req.Question[0], target)
	}
	m.Truncate(size)
	return m
}

// answer fills m for question q.
func (z *zone) answer(m *dns.Msg, q dns.Question, target targets) {
	name := canonical(q.Name)
	k, inZone := z.lookup(name)
	if !inZone || q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused // not ours, and no recursion
		return
	}
	m.Authoritative = true
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused // every node answers on its own: nothing to transfer
		return
	}
	switch k {
	case kindNone:
		m.Rcode = dns.RcodeNameError
	case kindApex, kindApexServed:
		m.Answer = z.apexRecords(q.Qtype)
		if k == kindApexServed && !z.served(m, q, target) {
			return
		}
		if q.Qtype == dns.TypeNS {
			m.Extra = append(m.Extra, z.glueRecords()...)
		}
	case kindServed:
		if !z.served(m, q, target) {
			return
		}
	case kindServer:
		m.Answer = z.addrRecords(q.Name, q.Qtype, z.glue[name])
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{z.soa} // NXDOMAIN or NODATA: the SOA's minimum is the negative TTL
	}
}

// apexRecords returns the SOA and NS records qtype asks for at the apex.
func (z *zone) apexRecords(qtype uint16) []dns.RR {
	var out []dns.RR
	if qtype == dns.TypeSOA || qtype == dns.TypeANY {
		out = append(out, z.soa)
	}
	if qtype == dns.TypeNS || qtype == dns.TypeANY {
		out = append(out, z.ns...)
	}
	return out
}

// served appends the serving site's addresses for a name of the names.
// It reports false, with m set to SERVFAIL, when no site is known to
// serve: a resolver then asks another of the zone's servers, which may
// know better, rather than cache an empty answer.
func (z *zone) served(m *dns.Msg, q dns.Question, target targets) bool {
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA && q.Qtype != dns.TypeANY {
		return true // NODATA for other types: no need to know the site
	}
	addrs := target()
	if len(addrs) == 0 {
		m.Answer, m.Authoritative, m.Rcode = nil, false, dns.RcodeServerFailure
		return false
	}
	m.Answer = append(m.Answer, z.addrRecords(q.Name, q.Qtype, addrs)...)
	return true
}
