package edge

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name string
		t    trustedProxies
		peer string
		xff  []string
		want string
	}{
		{"no trust: peer is client", nil, "192.0.2.1:5000", []string{"1.2.3.4"}, "192.0.2.1"},
		{"untrusted peer: header ignored", trusted, "192.0.2.1:5000", []string{"1.2.3.4"}, "192.0.2.1"},
		{"trusted peer: last hop", trusted, "10.1.1.1:5000", []string{"1.2.3.4"}, "1.2.3.4"},
		{"skip trusted hops", trusted, "127.0.0.1:1", []string{"198.51.100.7, 10.2.2.2", "10.3.3.3"}, "198.51.100.7"},
		{"spoofed left part ignored", trusted, "10.1.1.1:1", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"garbage hop stops walk", trusted, "10.1.1.1:1", []string{"198.51.100.7, garbage"}, "10.1.1.1"},
		{"all trusted: leftmost", trusted, "10.1.1.1:1", []string{"10.9.9.9"}, "10.9.9.9"},
		{"ipv4-mapped peer", trusted, "[::ffff:10.1.1.1]:1", []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		got := tt.t.clientIP(tt.peer, tt.xff)
		if got.String() != tt.want {
			t.Errorf("%s: clientIP(%q, %q) = %v; want %s", tt.name, tt.peer, tt.xff, got, tt.want)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	trusted := trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	f.Add("10.0.0.1:80", "1.2.3.4, 10.0.0.2")
	f.Add("[::1]:1", ",,, ,")
	f.Add("garbage", "::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		ip := trusted.clientIP(peer, []string{xff})
		p := parseHostIP(peer)
		if !p.IsValid() && ip.IsValid() {
			t.Fatalf("clientIP(%q, %q) = %v from an invalid peer", peer, xff, ip)
		}
		if p.IsValid() && !trusted.trusts(p) && ip != p {
			t.Fatalf("clientIP(%q, %q) = %v; an untrusted peer must be the client", peer, xff, ip)
		}
	})
}
