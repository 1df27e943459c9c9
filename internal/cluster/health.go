package cluster

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Health is the cluster as this node last saw it.
type Health struct {
	Quorum bool      // the last linearizable read succeeded
	Leader string    // name of the etcd leader; empty without quorum or when unknown
	Since  time.Time // when Quorum last changed (or Open succeeded)
	Err    string    // why the last check failed; empty when Quorum
	// Alarm says etcd refuses writes for its own quota (the NOSPACE
	// alarm); empty when it does not.
	Alarm string
	// Disk is the free space under DataDir; while it is Low, control-plane
	// writes are refused and the embedded member is stopped.
	Disk DiskHealth
}

// Health returns the result of the last check of Run's health loop, and
// the last measure of DataDir's free space. Before Run's first check it
// reports the quorum Open found.
func (c *Cluster) Health() Health {
	c.mu.Lock()
	h := c.health
	c.mu.Unlock()
	h.Disk = c.guard.health()
	return h
}

// healthLoop checks quorum every healthEvery until ctx ends.
func (c *Cluster) healthLoop(ctx context.Context) {
	t := time.NewTicker(c.healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			leader, err := c.probe(ctx)
			var alarm string
			if err == nil {
				alarm = c.noSpaceAlarm(ctx)
			}
			if ctx.Err() != nil {
				return // shutting down: not a loss of quorum
			}
			c.record(leader, alarm, err)
			if err == nil {
				c.placeLeader(ctx, leader)
			}
		}
	}
}

// record stores a check's result and logs a change of quorum, once.
func (c *Cluster) record(leader, alarm string, err error) {
	now := c.now()
	c.mu.Lock()
	prev := c.health
	c.health = nextHealth(prev, leader, err, now)
	c.health.Alarm = alarm
	h := c.health
	c.mu.Unlock()
	switch {
	case alarm != "" && prev.Alarm == "":
		c.log.Warn("etcd refuses writes", "alarm", alarm)
	case alarm == "" && prev.Alarm != "" && err == nil:
		c.log.Info("etcd takes writes again: its NOSPACE alarm is lowered")
	}
	switch {
	case prev.Quorum && !h.Quorum:
		c.log.Warn("cluster quorum lost", "cluster", c.opts.Name, "err", h.Err)
	case !prev.Quorum && h.Quorum:
		c.log.Info("cluster quorum back", "cluster", c.opts.Name, "leader", h.Leader, "lost_for", now.Sub(prev.Since))
	}
}

// nextHealth is the health after a check at now that found leader or
// failed with err.
func nextHealth(prev Health, leader string, err error, now time.Time) Health {
	h := Health{Quorum: err == nil, Leader: leader, Since: prev.Since}
	if err != nil {
		h.Leader, h.Err = "", err.Error()
	}
	if h.Quorum != prev.Quorum || prev.Since.IsZero() {
		h.Since = now
	}
	return h
}

// probeQuorum is the health check: a linearizable read bounded to a second,
// then the leader's name from the member status.
func (c *Cluster) probeQuorum(ctx context.Context) (string, error) {
	if c.member != nil {
		if err := c.member.down(); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoQuorum, err) // nothing to ask
		}
	}
	if err := c.readQuorum(ctx); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return c.leaderName(ctx), nil
}

// leaderName names the etcd leader, "" when unknown. The embedded member
// knows; with an external etcd, the first endpoint that answers a status
// call tells the leader's ID, resolved to a name by listing the members
// when the leader changed.
func (c *Cluster) leaderName(ctx context.Context) string {
	if c.member != nil {
		return c.member.leaderName()
	}
	var id uint64
	for _, ep := range c.client.Endpoints() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.client.Status(sctx, ep)
		cancel()
		if err == nil && st.Leader != 0 {
			id = st.Leader
			break
		}
	}
	if id == 0 {
		return ""
	}
	c.mu.Lock()
	known, name := c.leader, c.health.Leader
	c.mu.Unlock()
	if id == known && name != "" {
		return name
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ml, err := c.client.MemberList(lctx, clientv3.WithSerializable())
	if err != nil {
		return ""
	}
	for _, m := range ml.Members {
		if m.ID == id {
			c.mu.Lock()
			c.leader = id
			c.mu.Unlock()
			return m.Name
		}
	}
	return ""
}

// quorumOf is the number of voting members a cluster of n needs to agree.
func quorumOf(n int) int { return n/2 + 1 }
