package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// statusTimeout bounds the status call that decides whether a member is
// healthy.
const statusTimeout = time.Second

// Member is one etcd member as Members sees it.
type Member struct {
	Name       string // empty for a learner that has not started yet
	ID         string // hex
	PeerURLs   []string
	ClientURLs []string
	Learner    bool // not yet a voting member
	Leader     bool
	// Healthy means the member answered a status call within a second,
	// knows a leader and reports no errors (such as an alarm).
	Healthy bool
}

// members lists the cluster's members, asking each for its status.
func (c *Cluster) members(ctx context.Context) ([]Member, error) {
	if !c.usable() {
		return nil, fmt.Errorf("list members: %w", ErrNotOpen)
	}
	ml, err := c.client.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	members := make([]Member, len(ml.Members))
	leaders := make([]uint64, len(ml.Members))
	var wg sync.WaitGroup
	for i, m := range ml.Members {
		members[i] = Member{
			Name: m.Name, ID: strconv.FormatUint(m.ID, 16),
			PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner,
		}
		if len(m.ClientURLs) == 0 {
			continue // not started
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := c.client.Status(sctx, m.ClientURLs[0])
			if err == nil && st.Leader != 0 && len(st.Errors) == 0 {
				members[i].Healthy = true
				leaders[i] = st.Leader
			}
		})
	}
	wg.Wait()
	for i, m := range ml.Members {
		members[i].Leader = slices.Contains(leaders, m.ID)
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return members, nil
}

// removeMember removes the member called name from the cluster. It refuses
// to remove a node that is still registered (running), the last voting
// member, to act without a quorum, and to leave fewer healthy voting
// members than a quorum of the smaller cluster. The removed node's etcd
// stops; its data directory must be emptied before it can join again.
func (c *Cluster) removeMember(ctx context.Context, name string) error {
	if c.opts.External != nil {
		return fmt.Errorf("remove member %s: %w: manage the external etcd's members with its own tools", name, ErrExternal)
	}
	if err := c.checkNotRunning(ctx, name); err != nil {
		return err
	}
	members, err := c.members(ctx)
	if err != nil {
		return fmt.Errorf("remove member %s: %w", name, err)
	}
	i := slices.IndexFunc(members, func(m Member) bool { return m.Name == name })
	if name == "" || i < 0 {
		return fmt.Errorf("remove member %q: %w", name, ErrUnknownMember)
	}
	if err := checkRemoval(members, i); err != nil {
		return fmt.Errorf("remove member %s: %w", name, err)
	}
	id, err := strconv.ParseUint(members[i].ID, 16, 64)
	if err != nil {
		return fmt.Errorf("remove member %s: %w", name, err)
	}
	err = retryUnhealthy(ctx, func() error {
		_, err := c.client.MemberRemove(ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove member %s: %w", name, err)
	}
	if _, err := c.client.Delete(ctx, keyspace(c.prefix).nodeRecords(name), clientv3.WithPrefix()); err != nil {
		c.log.Warn("removed member's records left behind", "member", name, "err", err)
	}
	c.log.Info("member removed", "cluster", c.opts.Name, "member", name)
	return nil
}

// checkNotRunning refuses the removal of a node still registered: it is
// running, and would only lose its member under it.
func (c *Cluster) checkNotRunning(ctx context.Context, name string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	resp, err := c.client.Get(ctx, keyspace(c.prefix).node(name))
	if err != nil {
		return unavailable(fmt.Errorf("remove member %s: %w", name, err))
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	var info NodeInfo
	if err := json.Unmarshal(resp.Kvs[0].Value, &info); err != nil {
		return fmt.Errorf("remove member %s: %w: it is registered", name, ErrNodeRunning)
	}
	return fmt.Errorf("remove %s: %w (registered from %s, zone %s); stop it first (it leaves the view at once, or %s after a crash), then remove it",
		name, ErrNodeRunning, info.NodeAddr, info.Zone, DefaultRegistryTTL)
}

// checkRemoval decides whether members[i] may be removed.
func checkRemoval(members []Member, i int) error {
	voters, healthy := 0, 0
	for _, m := range members {
		if !m.Learner {
			voters++
			if m.Healthy {
				healthy++
			}
		}
	}
	if healthy < quorumOf(voters) {
		return fmt.Errorf("%w: %d of %d voting members are healthy", ErrNoQuorum, healthy, voters)
	}
	target := members[i]
	if target.Learner {
		return nil
	}
	if voters == 1 {
		return ErrLastMember
	}
	after, healthyAfter := voters-1, healthy
	if target.Healthy {
		healthyAfter--
	}
	if healthyAfter < quorumOf(after) {
		return fmt.Errorf("%w: %d healthy voting members would remain, a quorum of %d needs %d",
			ErrWouldLoseQuorum, healthyAfter, after, quorumOf(after))
	}
	return nil
}

// retryUnhealthy calls op until it returns something other than etcd's
// "unhealthy cluster" or one of also, or until ctx ends. etcd answers a
// membership change so until the members it counts on have been connected
// for five seconds, as right after a node joined or restarted.
func retryUnhealthy(ctx context.Context, op func() error, also ...error) error {
	delay := 200 * time.Millisecond
	for {
		err := op()
		if !errors.Is(err, rpctypes.ErrUnhealthy) && !slices.ContainsFunc(also, func(e error) bool { return errors.Is(err, e) }) {
			return err
		}
		if sleepCtx(ctx, delay) != nil {
			return err
		}
		delay = min(2*delay, time.Second)
	}
}
