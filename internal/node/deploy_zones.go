package node

import (
	"cmp"
	"slices"
)

// zoneNode is a node a deploy across the cluster rolls.
type zoneNode struct {
	Name string
	Zone string
	Addr string // its node-to-node listener, host:port
}

// planZones orders the rollout of a deploy across the cluster that self
// coordinates (self has rolled first): the other nodes grouped by zone,
// self's zone first (its other nodes roll right after it), then the other
// zones by name; within a zone the nodes are sorted by name and may roll
// at once. A zone starts only once every node of the one before it has
// succeeded, so at most one zone is ever mid-rollout. self, if among
// nodes, is left out.
func planZones(self zoneNode, nodes []zoneNode) [][]zoneNode {
	byZone := make(map[string][]zoneNode)
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
	plan := make([][]zoneNode, 0, len(zones))
	for _, z := range zones {
		wave := byZone[z]
		slices.SortFunc(wave, func(a, b zoneNode) int { return cmp.Compare(a.Name, b.Name) })
		plan = append(plan, wave)
	}
	return plan
}
