package cluster

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// Leadership placement: a node may ask that the etcd leader not be this
// node while something that must fail over fast runs here (the database
// primary). Killing the node that holds both would first need an etcd
// election — a second or more, after which etcd also extends every lease —
// before the primary's lease could expire: failover would take that much
// longer. With the leader elsewhere, the lease expires TTL after the last
// renewal, whatever happens to this node.

// moveLeaderTimeout bounds one transfer of the etcd leadership.
const moveLeaderTimeout = 5 * time.Second

// placeLeader moves the etcd leadership away from this node when
// Options.AvoidLeader says so and this node leads: to a healthy voting
// member not in Options.LeaderElsewhere if there is one, else to any
// other.
func (c *Cluster) placeLeader(ctx context.Context, leader string) {
	if c.opts.AvoidLeader == nil || c.member == nil || leader != c.opts.Node || !c.opts.AvoidLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, moveLeaderTimeout)
	defer cancel()
	members, err := c.members(ctx)
	if err != nil {
		c.log.Debug("etcd leadership not moved: members unknown", "err", err)
		return
	}
	var avoid []string
	if c.opts.LeaderElsewhere != nil {
		avoid = c.opts.LeaderElsewhere()
	}
	to := pickLeader(members, c.opts.Node, avoid)
	if to == nil {
		return
	}
	id, err := strconv.ParseUint(to.ID, 16, 64)
	if err != nil {
		return
	}
	if _, err := c.client.MoveLeader(ctx, id); err != nil {
		c.log.Warn("etcd leadership not moved away from this node", "to", to.Name, "err", err)
		return
	}
	c.log.Info("etcd leadership moved away from this node", "to", to.Name, "why", "a part here must fail over without waiting for an etcd election")
}

// pickLeader chooses the member to hand the leadership to: a healthy
// voting member other than self, one not in avoid if there is one.
func pickLeader(members []Member, self string, avoid []string) *Member {
	var pick *Member
	for i, m := range members {
		if m.Name == self || !m.Healthy || m.Learner {
			continue
		}
		if !slices.Contains(avoid, m.Name) {
			return &members[i]
		}
		if pick == nil {
			pick = &members[i]
		}
	}
	return pick
}
