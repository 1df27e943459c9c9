package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/embed"
)

// This file follows etcd's own guard against a full disk: at
// Options.QuotaBackendBytes a member raises the NOSPACE alarm, and etcd
// refuses writes across the cluster while it is raised. etcd never lowers
// it by itself; the node lowers its member's once the database is well
// below the quota again (compacted and defragmented), and the health says
// it is raised meanwhile.
//
// "Well below" is a margin of a tenth of the quota: the write that raised
// the alarm was refused, so the file is often just under the quota when
// it is raised. Lowering it at once would let the next write raise it
// again, and the alarm would flap while nothing was freed.

// noSpaceAlarm returns what the health says of a raised NOSPACE alarm:
// "" when none is raised or it cannot be told now.
func (c *Cluster) noSpaceAlarm(ctx context.Context) string {
	var members []string
	if c.member != nil {
		_, e := c.member.current()
		if e == nil {
			return ""
		}
		for _, a := range e.Server.Alarms() {
			if a.Alarm == pb.AlarmType_NOSPACE {
				members = append(members, memberName(e, a.MemberID))
			}
		}
	} else if c.client != nil {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := c.client.AlarmList(actx)
		cancel()
		if err != nil {
			return ""
		}
		for _, a := range resp.Alarms {
			if a.Alarm == pb.AlarmType_NOSPACE {
				members = append(members, fmt.Sprintf("%x", a.MemberID))
			}
		}
	}
	if len(members) == 0 {
		return ""
	}
	sort.Strings(members)
	return fmt.Sprintf("etcd's NOSPACE alarm is raised by %s: its database reached its quota, and etcd refuses writes until it is compacted and defragmented below it", strings.Join(members, ", "))
}

// memberName names the member id, or gives it in hex if it is unknown.
func memberName(e *embed.Etcd, id uint64) string {
	if m := e.Server.Cluster().Member(types.ID(id)); m != nil && m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("%x", id)
}

// disarmNoSpace lowers this member's NOSPACE alarm once its database is
// below the quota by the margin again.
func (c *Cluster) disarmNoSpace(ctx context.Context, e *embed.Etcd) {
	id := uint64(e.Server.MemberID())
	for _, a := range e.Server.Alarms() {
		if a.Alarm != pb.AlarmType_NOSPACE || a.MemberID != id {
			continue
		}
		size := e.Server.Backend().Size()
		if size > c.opts.QuotaBackendBytes-c.opts.QuotaBackendBytes/10 {
			c.logs.Warn("etcd's database is at its quota: control-plane writes are refused until it is compacted and defragmented to a tenth below it",
				"size", formatBytes(size), "quota", formatBytes(c.opts.QuotaBackendBytes))
			return
		}
		actx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := e.Server.Alarm(actx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: id, Alarm: pb.AlarmType_NOSPACE})
		cancel()
		if err != nil {
			c.logs.Warn("etcd's NOSPACE alarm not disarmed; retrying", "err", err)
			return
		}
		c.log.Info("etcd's NOSPACE alarm disarmed: its database is below the quota again", "size", formatBytes(size), "quota", formatBytes(c.opts.QuotaBackendBytes))
	}
}
