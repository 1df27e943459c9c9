package node

import (
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/telemetry"
	"github.com/tandem-run/tandem/internal/uptime"
)

// This file wires the node's metrics and the status page's series: the
// edge reports every request to the telemetry package's observer; the
// cache, the edge and the instances are read at each scrape; deploys and
// jobs report their ends.

// nodeTelemetry holds the node's Metrics and Series, and the observer
// that feeds them from the edge.
type nodeTelemetry struct {
	metrics  *telemetry.Metrics
	series   *telemetry.Series
	observer *telemetry.RequestObserver
}

var (
	_ edge.Observer      = (*telemetry.RequestObserver)(nil)
	_ edge.Tracer        = (*telemetry.RequestTracer)(nil)
	_ admin.SeriesSource = (*nodeTelemetry)(nil)
)

func newTelemetry(st *config.Stack) *nodeTelemetry {
	t := &nodeTelemetry{
		metrics: telemetry.NewMetrics(),
		series:  telemetry.NewSeries(telemetry.SeriesOptions{Apps: st.AppNames}),
	}
	health := make(map[string]string, len(st.Apps))
	for name, a := range st.Apps {
		health[name] = a.Health.Path
	}
	t.observer = telemetry.NewRequestObserver(t.metrics, t.series, health)
	for _, job := range st.JobNames {
		t.metrics.JobMissed(job, 0) // the series exists before the first miss
	}
	return t
}

// Series implements admin.SeriesSource.
func (t *nodeTelemetry) Series(window time.Duration) admin.Series {
	w := t.series.Window(window)
	s := admin.Series{StepSeconds: int64(w.Step / time.Second), End: w.End, Apps: make(map[string]admin.AppSeries, len(w.Apps))}
	for name, a := range w.Apps {
		s.Apps[name] = admin.AppSeries{T: a.T, RPS: a.RPS, Errors: a.Errors, P50MS: a.P50, P95MS: a.P95, P99MS: a.P99, HitRatio: a.HitRatio}
	}
	return s
}

// watch registers the collectors that read the node's parts at each
// scrape; cache, front and checks may be nil.
func (t *nodeTelemetry) watch(cache *httpcache.Cache, apps *apprun.Set, front *edge.Server, checks *uptime.Monitor, cluster func() telemetry.ClusterSample) error {
	if cache != nil {
		if err := t.metrics.WatchCache(cache.Stats); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if err := t.metrics.WatchInstances(func() []telemetry.InstanceSample { return instanceSamples(apps) }); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if err := t.metrics.WatchPools(func() []telemetry.PoolSample { return poolSamples(apps) }); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if front != nil { // a witness has no edge
		if err := t.metrics.WatchEdge(func() telemetry.EdgeSample { return edgeSample(front) }); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if checks != nil {
		if err := t.metrics.WatchChecks(func() []telemetry.CheckSample { return checkSamples(checks) }); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if err := t.metrics.WatchCluster(cluster); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// clusterSample is the control plane and the view of the other nodes for
// the metrics. The admin API, which serves them, starts after the cluster
// is open.
func (n *Node) clusterSample() telemetry.ClusterSample {
	s := telemetry.ClusterSample{Nodes: map[string]int{}}
	h := n.cl.Health()
	s.Quorum, s.Leader, s.NoSpaceAlarm = h.Quorum, h.Leader == n.st.Cluster.Node, h.Alarm != ""
	s.DataDirFree, s.DataDirFloor, s.DataDirLow, s.WritesRefused = h.Disk.Free, h.Disk.Floor, h.Disk.Low, h.Disk.Refused
	v := n.view.View()
	s.Synced = v.Synced
	for _, nv := range v.Nodes {
		s.Nodes[nv.Info.Zone]++
	}
	return s
}

// sample is the database as this node sees it, for the metrics: every
// configured member, the ones without a live record as down, and the
// endpoints' counters.
func (d *dbPart) sample(members []string) telemetry.DatabaseSample {
	st := d.db.Status()
	routes, _ := d.db.Routes()
	s := telemetry.DatabaseSample{Role: st.Role, Synchronous: st.Synchronous, StoreReachable: st.StoreReachable,
		Failsafe: st.Failsafe, SyncStandby: st.SyncStandby}
	seen := make(map[string]pgha.MemberStatus, len(st.Members))
	for _, m := range st.Members {
		seen[m.Name] = m
	}
	for _, name := range members {
		m, up := seen[name]
		// A member that has not published a replay position (stopped,
		// starting) is not behind by the primary's whole WAL.
		ms := telemetry.DatabaseMemberSample{Name: name, Up: up, Role: m.Role, Leader: m.Leader, Timeline: m.Timeline,
			Standby: up && st.Leader != "" && !m.Leader && m.ReplayLSN != 0, LagBytes: m.LagBytes, LagSeconds: -1}
		if m.Sync != "" { // the primary lists it as a replica
			ms.LagSeconds = m.LagSecs
		}
		s.Members = append(s.Members, ms)
	}
	s.Endpoints = append(s.Endpoints, endpointSample("primary", d.endpoint, routes.Primary))
	if d.read != nil {
		s.Endpoints = append(s.Endpoints, endpointSample("standby", d.read, routes.Standby))
	}
	if d.site != nil {
		s.Endpoints = append(s.Endpoints, endpointSample("site", d.site, routes.Site))
	}
	return s
}

// endpointSample reads a DB endpoint's counters for the metrics.
func endpointSample(name string, e *pgha.Endpoint, target string) telemetry.DatabaseEndpointSample {
	st := e.Stats()
	return telemetry.DatabaseEndpointSample{Endpoint: name, Routed: target != "",
		Open: st.Open, Relaying: st.Relaying, Held: st.Waiting, Accepted: st.Accepted, Relayed: st.Relayed,
		BytesToServer: st.BytesToServer, BytesToClient: st.BytesToClient,
		RefusedNoTarget: st.RefusedNoTarget, RefusedFull: st.RefusedFull, BadStartup: st.BadStartup,
		Severed: st.Severed, Cancels: st.Cancels}
}

// databaseEvent counts a leader change or a demotion this node's member
// saw.
func (t *nodeTelemetry) databaseEvent(ev pgha.Event) {
	switch ev.Kind {
	case pgha.EventBootstrap, pgha.EventFailover, pgha.EventSwitchover:
		t.metrics.DatabaseLeaderChanged(string(ev.Kind))
	case pgha.EventDemoted:
		t.metrics.DatabaseDemoted()
	}
}

// edgeSample reads the edge's connections and request bodies for the
// metrics.
func edgeSample(front *edge.Server) telemetry.EdgeSample {
	c, b := front.Connections(), front.Bodies()
	return telemetry.EdgeSample{
		Connections: c.Open, ConnectionsMax: c.Limit,
		LimitReached: c.LimitReached, IdleClosed: c.IdleClosed, AcceptErrors: c.AcceptErrors,
		BodyMemory: b.Memory, BodyDisk: b.Disk, BodiesSpilled: b.Spilled, BodiesRefused: b.Refused,
	}
}

// checkSamples lists the uptime checks for the metrics.
func checkSamples(checks *uptime.Monitor) []telemetry.CheckSample {
	var out []telemetry.CheckSample
	for _, s := range checks.Status() {
		state := -1.0
		switch s.State {
		case uptime.Up:
			state = 1
		case uptime.Down:
			state = 0
		}
		latency := -1.0
		if !s.Last.At.IsZero() {
			latency = s.Last.Latency.Seconds()
		}
		out = append(out, telemetry.CheckSample{Check: s.Name, State: state, LocalLatency: latency})
	}
	return out
}

// poolSamples lists every app's balancer counters for the metrics.
func poolSamples(apps *apprun.Set) []telemetry.PoolSample {
	var out []telemetry.PoolSample
	for _, a := range apps.Apps() {
		st := a.Pool().Stats()
		out = append(out, telemetry.PoolSample{App: a.Name(), Hedges: st.Hedges, HedgeWins: st.HedgeWins,
			LocalErrors: st.LocalErrors, PerTryTimeout: st.PerTryTimeout.Seconds()})
	}
	return out
}

// instanceSamples lists every app's instances for the metrics.
func instanceSamples(apps *apprun.Set) []telemetry.InstanceSample {
	var out []telemetry.InstanceSample
	for _, a := range apps.Apps() {
		for _, in := range a.Status().Instances {
			p, t := in.Process, in.Target
			out = append(out, telemetry.InstanceSample{
				App: a.Name(), Instance: in.Name,
				// Ejected instances pass their checks; passive health
				// holds them out for a while.
				Up:       t.State == balance.StateHealthy || t.State == balance.StateEjected,
				Restarts: p.Restarts, OOMKills: p.OOMKills,
				Attempts: t.Requests, Failures: t.Failures, InFlight: t.InFlight,
			})
		}
	}
	return out
}

// deployEnded counts a deploy or rollback that ended.
func (t *nodeTelemetry) deployEnded(app string, rec deploy.Record) {
	t.metrics.DeployFinished(app, string(rec.Result), rec.Duration(time.Now()))
}

// jobRan counts a job run that ended, or firings skipped or missed.
func (t *nodeTelemetry) jobRan(job string, run cron.Run) {
	if run.Result == cron.ResultMissed {
		t.metrics.JobMissed(job, run.Missed)
		return
	}
	t.metrics.JobFinished(job, string(run.Result))
}
