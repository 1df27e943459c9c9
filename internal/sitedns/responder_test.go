package sitedns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeSites is the sites core's answer, set by the test.
type fakeSites struct {
	mu      sync.Mutex // guards the fields below
	serving []string
	addrs   map[string][]netip.Addr
}

func (f *fakeSites) Serving() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.serving
}

func (f *fakeSites) SiteAddrs(site string) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs[site]
}

func (f *fakeSites) set(serving ...string) {
	f.mu.Lock()
	f.serving = serving
	f.mu.Unlock()
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func testOptions(sites *fakeSites) Options {
	return Options{
		Zone:  "go.example.com",
		Names: []string{"go.example.com", "www.go.example.com", "api.v1.go.example.com"},
		NameServers: []NameServer{
			{Name: "ns-home.example.net"},
			{Name: "ns1.go.example.com", Addrs: addrs("192.0.2.53", "2001:db8::53")},
		},
		Hostmaster: "host.master@example.com",
		TTL:        30 * time.Second,
		Listen:     "127.0.0.1:0",
		Sites:      sites, Addresses: sites,
	}
}

func newSites() *fakeSites {
	return &fakeSites{serving: []string{"home", "cloud"}, addrs: map[string][]netip.Addr{
		"home":  addrs("203.0.113.10", "203.0.113.11", "2001:db8:1::10"),
		"cloud": addrs("198.51.100.7"),
	}}
}

// startResponder runs a responder until the test ends and returns its
// address.
func startResponder(t *testing.T, o Options) (*Responder, string) {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after its context ended")
		}
	})
	return r, r.Addr()
}

// query asks addr over net ("udp" or "tcp") and fails the test on a
// transport error.
func query(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m, err := exchange(addr, network, name, qtype, nil)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return m
}

func exchange(addr, network, name string, qtype uint16, edit func(*dns.Msg)) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edit != nil {
		edit(q)
	}
	m, _, err := c.Exchange(q, addr)
	return m, err
}

// rrs renders a section as "TYPE value ttl" lines, sorted.
func rrs(section []dns.RR) []string {
	var out []string
	for _, rr := range section {
		h := rr.Header()
		val := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, fmt.Sprintf("%s %s %s %d", h.Name, dns.TypeToString[h.Rrtype], val, h.Ttl))
	}
	slices.Sort(out)
	return out
}

func TestResponderAnswers(t *testing.T) {
	_, addr := startResponder(t, testOptions(newSites()))
	soa := "go.example.com. SOA ns-home.example.net. host\\.master.example.com. %d 3600 600 604800 30 30"
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		aa     bool
		answer []string
		ns     int    // records in the authority section
		extra  string // a record expected in the additional section, if any
	}{
		{"www.go.example.com.", dns.TypeA, dns.RcodeSuccess, true,
			[]string{"www.go.example.com. A 203.0.113.10 30", "www.go.example.com. A 203.0.113.11 30"}, 0, ""},
		{"www.go.example.com.", dns.TypeAAAA, dns.RcodeSuccess, true, []string{"www.go.example.com. AAAA 2001:db8:1::10 30"}, 0, ""},
		{"WwW.Go.EXAMPLE.com.", dns.TypeA, dns.RcodeSuccess, true,
			[]string{"WwW.Go.EXAMPLE.com. A 203.0.113.10 30", "WwW.Go.EXAMPLE.com. A 203.0.113.11 30"}, 0, ""},
		{"go.example.com.", dns.TypeA, dns.RcodeSuccess, true,
			[]string{"go.example.com. A 203.0.113.10 30", "go.example.com. A 203.0.113.11 30"}, 0, ""},
		{"go.example.com.", dns.TypeNS, dns.RcodeSuccess, true,
			[]string{"go.example.com. NS ns-home.example.net. 30", "go.example.com. NS ns1.go.example.com. 30"}, 0, "ns1.go.example.com.\t30\tIN\tA\t192.0.2.53"},
		{"ns1.go.example.com.", dns.TypeA, dns.RcodeSuccess, true, []string{"ns1.go.example.com. A 192.0.2.53 30"}, 0, ""},
		{"ns1.go.example.com.", dns.TypeAAAA, dns.RcodeSuccess, true, []string{"ns1.go.example.com. AAAA 2001:db8::53 30"}, 0, ""},
		{"www.go.example.com.", dns.TypeMX, dns.RcodeSuccess, true, nil, 1, ""},    // NODATA
		{"v1.go.example.com.", dns.TypeA, dns.RcodeSuccess, true, nil, 1, ""},      // empty non-terminal: NODATA
		{"nope.go.example.com.", dns.TypeA, dns.RcodeNameError, true, nil, 1, ""},  // NXDOMAIN
		{"a.www.go.example.com.", dns.TypeA, dns.RcodeNameError, true, nil, 1, ""}, // below a name: NXDOMAIN
		{"www.example.com.", dns.TypeA, dns.RcodeRefused, false, nil, 0, ""},       // not our zone: no recursion
		{"example.com.", dns.TypeSOA, dns.RcodeRefused, false, nil, 0, ""},         // the parent is not ours
		{"go.example.com.", dns.TypeAXFR, dns.RcodeRefused, false, nil, 0, ""},     // no transfers
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+dns.TypeToString[tt.qtype]+"/"+network, func(t *testing.T) {
				if tt.qtype == dns.TypeAXFR && network == "udp" {
					t.Skip("AXFR is asked over TCP")
				}
				m := query(t, addr, network, tt.name, tt.qtype)
				if m.Rcode != tt.rcode || m.Authoritative != tt.aa || m.RecursionAvailable {
					t.Fatalf("rcode %s aa %v ra %v; want %s aa %v ra false\n%v", dns.RcodeToString[m.Rcode], m.Authoritative,
						m.RecursionAvailable, dns.RcodeToString[tt.rcode], tt.aa, m)
				}
				if got := rrs(m.Answer); !slices.Equal(got, tt.answer) {
					t.Errorf("answer = %q; want %q", got, tt.answer)
				}
				if len(m.Ns) != tt.ns {
					t.Fatalf("authority = %v; want %d records", m.Ns, tt.ns)
				}
				if tt.ns == 1 {
					s, ok := m.Ns[0].(*dns.SOA)
					if want := fmt.Sprintf(soa, s.Serial); !ok || rrs(m.Ns)[0] != want {
						t.Errorf("authority = %q; want %q", rrs(m.Ns), want)
					}
				}
				if tt.extra != "" && !slices.ContainsFunc(m.Extra, func(rr dns.RR) bool { return rr.String() == tt.extra }) {
					t.Errorf("additional = %v; want %s", m.Extra, tt.extra)
				}
				if len(m.Question) != 1 || m.Question[0].Name != tt.name {
					t.Errorf("question = %v; want %s as asked", m.Question, tt.name)
				}
			})
		}
	}
}

// TestResponderFollowsSites: the answers change with the sites core's
// view at once — the leader's addresses, the emergency leader's once the
// leader is not serving, SERVFAIL when no site is known — and the SOA's
// serial stays.
func TestResponderFollowsSites(t *testing.T) {
	sites := newSites()
	_, addr := startResponder(t, testOptions(sites))
	a := func() (int, []string) {
		m := query(t, addr, "udp", "www.go.example.com.", dns.TypeA)
		return m.Rcode, rrs(m.Answer)
	}
	home := []string{"www.go.example.com. A 203.0.113.10 30", "www.go.example.com. A 203.0.113.11 30"}
	cloud := []string{"www.go.example.com. A 198.51.100.7 30"}
	steps := []struct {
		serving []string
		rcode   int
		answer  []string
	}{
		{[]string{"home", "cloud"}, dns.RcodeSuccess, home},
		{[]string{"cloud"}, dns.RcodeSuccess, cloud},            // the leader site is dark: the emergency leader
		{[]string{"witness", "cloud"}, dns.RcodeSuccess, cloud}, // a site without addresses is passed over
		{nil, dns.RcodeServerFailure, nil},                      // nothing known: another server may know
		{[]string{"home", "cloud"}, dns.RcodeSuccess, home},     // back
	}
	for i, s := range steps {
		sites.set(s.serving...)
		if rc, ans := a(); rc != s.rcode || !slices.Equal(ans, s.answer) {
			t.Errorf("step %d, serving %q: %s %q; want %s %q", i, s.serving, dns.RcodeToString[rc], ans, dns.RcodeToString[s.rcode], s.answer)
		}
	}
	// The AAAA of a site with no IPv6 address is NODATA, never another
	// site's address.
	sites.set("cloud")
	if m := query(t, addr, "udp", "www.go.example.com.", dns.TypeAAAA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Errorf("AAAA while cloud serves = %v; want NODATA with the SOA", m)
	}
}

// wireLen is the size of m on the wire, compressed as the responder
// sends it.
func wireLen(m *dns.Msg) int {
	c := m.Copy()
	c.Compress = true
	return c.Len()
}

func TestResponderEDNSAndTruncation(t *testing.T) {
	sites := newSites()
	for i := range 40 {
		sites.addrs["big"] = append(sites.addrs["big"], netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	sites.set("big")
	_, addr := startResponder(t, testOptions(sites))

	m := query(t, addr, "udp", "www.go.example.com.", dns.TypeAAAA)
	if !m.Truncated || wireLen(m) > dns.MinMsgSize {
		t.Errorf("UDP without EDNS: truncated %v, %d bytes; want TC and at most 512", m.Truncated, wireLen(m))
	}
	m, err := exchange(addr, "udp", "www.go.example.com.", dns.TypeAAAA, func(q *dns.Msg) { q.SetEdns0(4096, false) })
	if err != nil {
		t.Fatal(err)
	}
	if m.Truncated || len(m.Answer) != 40 || m.IsEdns0() == nil || m.IsEdns0().UDPSize() != udpSize || wireLen(m) > udpSize {
		t.Errorf("UDP with EDNS 4096: truncated %v, %d answers, %d bytes, opt %v; want all 40 within %d bytes and an OPT offering %d",
			m.Truncated, len(m.Answer), wireLen(m), m.IsEdns0(), udpSize, udpSize)
	}
	if m := query(t, addr, "tcp", "www.go.example.com.", dns.TypeAAAA); m.Truncated || len(m.Answer) != 40 {
		t.Errorf("TCP: truncated %v, %d answers; want all 40", m.Truncated, len(m.Answer))
	}
	m, err = exchange(addr, "udp", "www.go.example.com.", dns.TypeA, func(q *dns.Msg) {
		q.SetEdns0(1232, false)
		q.IsEdns0().SetVersion(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeBadVers || len(m.Answer) != 0 {
		t.Errorf("EDNS version 1: rcode %s, answer %v; want BADVERS and nothing", dns.RcodeToString[m.Rcode], m.Answer)
	}
	m, err = exchange(addr, "udp", "go.example.com.", dns.TypeSOA, func(q *dns.Msg) { q.Opcode = dns.OpcodeUpdate })
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: rcode %s; want NOTIMP", dns.RcodeToString[m.Rcode])
	}
}

// TestResponderRateLimit: past the limit a client network's UDP queries
// are dropped, one in two answered empty with TC (so that a resolver
// retries over TCP, which is never limited); its other networks are not
// affected, and the budget comes back with time.
func TestResponderRateLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	o := testOptions(newSites())
	o.RateLimit = 5
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, addr := startResponder(t, o)
	for i := range 5 {
		if m := query(t, addr, "udp", "www.go.example.com.", dns.TypeA); len(m.Answer) != 2 {
			t.Fatalf("query %d within the limit: %v", i, m)
		}
	}
	c := &dns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	var truncated, dropped int
	for range 4 {
		q := new(dns.Msg)
		q.SetQuestion("www.go.example.com.", dns.TypeA)
		m, _, err := c.Exchange(q, addr)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			dropped++
		case err != nil:
			t.Fatal(err)
		case m.Truncated && len(m.Answer) == 0:
			truncated++
		default:
			t.Errorf("over the limit: %v; want nothing or an empty truncated answer", m)
		}
	}
	if truncated != 2 || dropped != 2 {
		t.Errorf("over the limit: %d truncated, %d dropped; want 2 and 2", truncated, dropped)
	}
	if m := query(t, addr, "tcp", "www.go.example.com.", dns.TypeA); len(m.Answer) != 2 {
		t.Errorf("over TCP past the UDP limit: %v; want the answer", m)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if m := query(t, addr, "udp", "www.go.example.com.", dns.TypeA); len(m.Answer) != 2 {
		t.Errorf("a second later: %v; want the answer", m)
	}
	if s := r.Stats(); s.Limited != 4 || s.Answered < 7 {
		t.Errorf("stats = %+v; want 4 limited, at least 7 answered", s)
	}
}

func TestResponderListen(t *testing.T) {
	r, addr := startResponder(t, testOptions(newSites()))
	if err := r.Listen(); err == nil {
		t.Error("Listen twice = nil; want an error")
	}
	o := testOptions(newSites())
	o.Listen = addr
	r2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Listen(); err == nil {
		r2.Close()
		t.Errorf("Listen on %s, in use = nil; want an error", addr)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no sites", func(o *Options) { o.Sites = nil }, "Sites and Addresses are required"},
		{"ttl", func(o *Options) { o.TTL = 1500 * time.Millisecond }, "whole seconds"},
		{"zone", func(o *Options) { o.Zone = "com" }, "two labels"},
		{"name outside", func(o *Options) { o.Names = []string{"www.example.org"} }, "not a domain name in zone"},
		{"name twice", func(o *Options) { o.Names = []string{"a.go.example.com", "A.go.example.com."} }, "given twice"},
		{"name server is a name", func(o *Options) { o.Names = append(o.Names, "ns1.go.example.com") }, "both a name and a name server"},
		{"glue missing", func(o *Options) { o.NameServers[1].Addrs = nil }, "needs addresses"},
		{"glue outside", func(o *Options) { o.NameServers[0].Addrs = addrs("192.0.2.1") }, "not ours to answer"},
		{"hostmaster", func(o *Options) { o.Hostmaster = "nobody" }, "not a mail address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(newSites())
			tt.edit(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
