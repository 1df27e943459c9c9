package deploy

import (
	"cmp"
	"slices"
	"strings"
)

// Member is a node of the cluster that a [Rollout] rolls.
type Member struct {
	Name string
	// Zone is the node's failure domain; nodes without one ("") form a
	// zone of their own.
	Zone string
	// Addr is how [Peers] reaches the node (its node-to-node listener,
	// host:port). The Rollout never reads it.
	Addr string
}

// planZones orders the rollout that self coordinates (self rolls first,
// alone): the other nodes grouped by zone, self's zone first (its other
// nodes roll right after it), then the other zones by name; within a
// zone the nodes are sorted by name and roll at once. A zone starts only
// once every node of the one before it has answered, so that at most one
// zone is ever mid-rollout. self, if among nodes, is left out.
func planZones(self Member, nodes []Member) [][]Member {
	byZone := make(map[string][]Member)
	for _, nd := range nodes {
		if nd.Name == self.Name {
			continue
		}
		byZone[nd.Zone] = append(byZone[nd.Zone], nd)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	slices.SortFunc(zones, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == self.Zone:
			return -1
		case b == self.Zone:
			return 1
		}
		return cmp.Compare(a, b)
	})
	plan := make([][]Member, 0, len(zones))
	for _, z := range zones {
		wave := byZone[z]
		slices.SortFunc(wave, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
		plan = append(plan, wave)
	}
	return plan
}

// memberNames joins the names of nodes: "node-b, node-c".
func memberNames(nodes []Member) string {
	names := make([]string, len(nodes))
	for i, nd := range nodes {
		names[i] = nd.Name
	}
	return strings.Join(names, ", ")
}
