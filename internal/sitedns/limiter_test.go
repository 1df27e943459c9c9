package sitedns

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiter(3, func() time.Time { return now })
	a, same, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("192.0.3.1")
	for i := range 3 {
		if v := l.check(a); v != allow {
			t.Fatalf("query %d: %v; want allow", i, v)
		}
	}
	if v1, v2 := l.check(same), l.check(a); v1 != drop || v2 != truncate {
		t.Errorf("over the limit in the same /24: %v, %v; want drop, then truncate", v1, v2)
	}
	if v := l.check(other); v != allow {
		t.Errorf("another /24: %v; want allow", v)
	}
	now = now.Add(400 * time.Millisecond) // one token back, and a fifth
	if v1, v2 := l.check(a), l.check(a); v1 != allow || v2 == allow {
		t.Errorf("400ms later: %v, %v; want allow, then limited", v1, v2)
	}
	v6a, v6b, v6c := netip.MustParseAddr("2001:db8:0:10::1"), netip.MustParseAddr("2001:db8:0:ff::1"), netip.MustParseAddr("2001:db8:0:100::1")
	if network(v6a) != network(v6b) || network(v6a) == network(v6c) {
		t.Errorf("networks %v %v %v; want the first two in one /56, the third not", network(v6a), network(v6b), network(v6c))
	}
	if network(netip.MustParseAddr("::ffff:192.0.2.9")) != network(a) {
		t.Error("an IPv4-mapped address is not counted in its IPv4 /24")
	}
	if newLimiter(0, nil).check(a) != allow {
		t.Error("no limit: not allowed")
	}
}

// TestLimiterBounded: past maxTracked networks the new ones share one
// bucket; once the tracked ones have been quiet a second they are swept.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiter(2, func() time.Time { return now })
	for i := range maxTracked {
		l.check(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1}))
	}
	if len(l.buckets) != maxTracked {
		t.Fatalf("%d buckets; want %d", len(l.buckets), maxTracked)
	}
	x, y := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.1")
	if v1, v2, v3 := l.check(x), l.check(y), l.check(x); v1 != allow || v2 != allow || v3 == allow {
		t.Errorf("two new networks past the bound: %v %v %v; want allow, allow, limited (one shared bucket of 2)", v1, v2, v3)
	}
	if len(l.buckets) != maxTracked {
		t.Errorf("%d buckets; want still %d", len(l.buckets), maxTracked)
	}
	now = now.Add(time.Second)
	if v := l.check(x); v != allow || len(l.buckets) != 1 {
		t.Errorf("a second later: %v with %d buckets; want allow, the quiet networks swept", v, len(l.buckets))
	}
}
