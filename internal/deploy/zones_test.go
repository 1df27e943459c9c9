package deploy

import (
	"fmt"
	"testing"
)

func TestPlanZones(t *testing.T) {
	nd := func(name, zone string) Member { return Member{Name: name, Zone: zone, Addr: name + ":7946"} }
	a, b, c := nd("node-a", "a"), nd("node-b", "b"), nd("node-c", "c")
	tests := []struct {
		name  string
		self  Member
		nodes []Member
		want  string
	}{
		{"alone", a, nil, "[]"},
		{"self only", a, []Member{a}, "[]"},
		{"three zones from a", a, []Member{c, a, b}, "[[node-b] [node-c]]"},
		{"three zones from b", b, []Member{a, b, c}, "[[node-a] [node-c]]"},
		{"three zones from c", c, []Member{c, b, a}, "[[node-a] [node-b]]"},
		{"own zone first", nd("node-b2", "b"), []Member{a, b, c, nd("node-b2", "b")}, "[[node-b] [node-a] [node-c]]"},
		{"a zone's nodes together, by name", a, []Member{nd("y", "z1"), nd("x", "z1"), nd("w", "z0"), a}, "[[w] [x y]]"},
		{"zones by name, not by node", a, []Member{nd("node-1", "zone-c"), nd("node-2", "zone-b")}, "[[node-2] [node-1]]"},
		{"nodes without a zone", nd("m", ""), []Member{nd("p", ""), nd("o", "a"), nd("n", "")}, "[[n p] [o]]"},
	}
	for _, tt := range tests {
		got := planZones(tt.self, tt.nodes)
		names := make([][]string, len(got))
		for i, wave := range got {
			for _, n := range wave {
				names[i] = append(names[i], n.Name)
			}
		}
		if s := fmt.Sprint(names); s != tt.want {
			t.Errorf("%s: planZones(%q, %v) = %s; want %s", tt.name, tt.self.Name, tt.nodes, s, tt.want)
		}
	}
}
