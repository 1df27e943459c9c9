package admin

import "testing"

// TestOneZone: the status warns when two members or more share one zone,
// and only then.
func TestOneZone(t *testing.T) {
	m := func(zones ...string) []DatabaseMember {
		var out []DatabaseMember
		for _, z := range zones {
			out = append(out, DatabaseMember{Zone: z})
		}
		return out
	}
	for _, tc := range []struct {
		members []DatabaseMember
		want    string
	}{
		{nil, ""},
		{m("a"), ""}, // one member: development, nothing to fail over to anyway
		{m("a", "a"), "a"},
		{m("a", "b"), ""},
		{m("a", "a", "b"), ""},
		{m("", ""), ""}, // no zones known
	} {
		if got := oneZone(tc.members); got != tc.want {
			t.Errorf("oneZone(%v) = %q; want %q", tc.members, got, tc.want)
		}
	}
}
