package node

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/supervise"
)

// status joins the supervisor's and the balancers' views for the admin API.
func (n *Node) status(context.Context) admin.Status {
	st := admin.Status{
		Node:      n.st.Cluster.Node,
		Zone:      n.st.Cluster.Zone,
		Site:      n.st.Cluster.Site,
		Version:   n.opts.Version,
		StartedAt: n.started,
	}
	for _, a := range n.edge.Addrs() {
		st.Edge = append(st.Edge, a.String())
	}
	for _, a := range n.apps {
		st.Apps = append(st.Apps, a.status())
	}
	st.Jobs = n.jobSummaries()
	st.Checks = n.checkSummaries()
	st.Cluster = n.clusterStatus()
	return st
}

func (a *app) status() admin.AppStatus {
	targets := make(map[string]balance.TargetStatus)
	for _, t := range a.pool.Targets() {
		targets[t.ID] = t
	}
	a.mu.Lock()
	instances := slices.Clone(a.instances)
	a.mu.Unlock()

	as := admin.AppStatus{Name: a.name, Desired: a.cfg.Instances}
	for _, in := range instances {
		p := in.proc.Status()
		t := targets[in.name]
		is := admin.InstanceStatus{
			Release:   in.version,
			Name:      in.name,
			Addr:      in.addr,
			Zone:      t.Zone,
			PID:       p.PID,
			State:     string(p.State),
			Health:    t.State.String(),
			Restarts:  p.Restarts,
			StartedAt: p.StartedAt,
			InFlight:  t.InFlight,
			Requests:  t.Requests,
			CrashLoop: p.CrashLoop,
			OOMKills:  p.OOMKills,
			LastExit:  describeExit(p.LastExit),
			LastError: t.LastError,
		}
		if a.cfg.Limits.Memory > 0 {
			if p.MemoryLimitEnforced {
				is.MemoryLimit = int64(a.cfg.Limits.Memory)
			} else {
				is.MemoryNote = "memory limit not enforced"
			}
		}
		if t.State == balance.StateHealthy {
			as.Healthy++
		}
		as.Instances = append(as.Instances, is)
	}
	a.releaseStatus(&as)
	return as
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// describeExit says in a few words how a process ended.
func describeExit(e *supervise.Exit) string {
	switch {
	case e == nil:
		return ""
	case e.OOMKilled:
		return "killed: out of memory"
	case e.Err != "":
		return e.Err
	case e.Signal != 0:
		return "killed by " + unix.SignalName(e.Signal)
	default:
		return "exit code " + strconv.Itoa(e.Code)
	}
}
