package sitedns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzRespond feeds any message the library can unpack to the responder's
// answer and checks what every answer must be: it packs, within the
// transport's size, with the query's id, marked as a response, never
// offering recursion, and authoritative only for names in the zone.
func FuzzRespond(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.go.example.com.", dns.TypeA}, {"go.example.com.", dns.TypeNS}, {"x.example.org.", dns.TypeA}, {"go.example.com.", dns.TypeANY}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(4096, true)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	sites := newSites()
	for i := range 60 {
		sites.addrs["home"] = append(sites.addrs["home"], netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i)}))
	}
	z, err := newZone("go.example.com", []string{"go.example.com", "www.go.example.com", "a.b.go.example.com"},
		[]NameServer{{Name: "ns1.go.example.com", Addrs: addrs("192.0.2.53")}}, "hostmaster@example.com", 30e9)
	if err != nil {
		f.Fatal(err)
	}
	target := func() []netip.Addr { return sites.SiteAddrs("home") }
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		req := new(dns.Msg)
		if req.Unpack(data) != nil {
			return
		}
		m := z.respond(req, tcp, target)
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, m)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = udpSize
			if req.IsEdns0() == nil {
				limit = dns.MinMsgSize
			}
		}
		if len(b) > limit {
			t.Errorf("answer of %d bytes; the transport allows %d", len(b), limit)
		}
		if m.Id != req.Id || !m.Response || m.RecursionAvailable {
			t.Errorf("id %d response %v ra %v; want id %d, a response, no recursion", m.Id, m.Response, m.RecursionAvailable, req.Id)
		}
		if m.Authoritative && (len(req.Question) != 1 || !dns.IsSubDomain("go.example.com.", dns.CanonicalName(req.Question[0].Name))) {
			t.Errorf("authoritative answer to %v, which is not one question in the zone", req.Question)
		}
	})
}
