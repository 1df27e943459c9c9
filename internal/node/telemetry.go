package node

import (
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/telemetry"
	"github.com/tandem-run/tandem/internal/uptime"
)

// This file wires the node's metrics and the status page's series: the
// edge tells nodeTelemetry of every request; the cache and the
// instances are read at each scrape; deploys and jobs report their ends.

// nodeTelemetry holds the node's Metrics and Series and feeds them from
// the edge.
type nodeTelemetry struct {
	metrics *telemetry.Metrics
	series  *telemetry.Series
	// health maps each app to its health check path, whose requests stay
	// out of the request metrics and series (monitors poll it all day).
	health map[string]string
}

var (
	_ edge.Observer      = (*nodeTelemetry)(nil)
	_ admin.SeriesSource = (*nodeTelemetry)(nil)
)

func newTelemetry(st *config.Stack) *nodeTelemetry {
	t := &nodeTelemetry{
		metrics: telemetry.NewMetrics(),
		series:  telemetry.NewSeries(telemetry.SeriesOptions{Apps: st.AppNames}),
		health:  make(map[string]string, len(st.Apps)),
	}
	for name, a := range st.Apps {
		if a.Health.Path != "" {
			t.health[name] = a.Health.Path
		}
	}
	for _, job := range st.JobNames {
		t.metrics.JobMissed(job, 0) // the series exists before the first miss
	}
	return t
}

// RequestStarted implements edge.Observer.
func (t *nodeTelemetry) RequestStarted(app string) { t.metrics.RequestStarted(app) }

// ObserveRequest implements edge.Observer.
func (t *nodeTelemetry) ObserveRequest(i edge.RequestInfo) {
	if i.App != "" {
		t.metrics.RequestEnded(i.App)
		if p, ok := t.health[i.App]; ok && i.Path == p {
			return
		}
	}
	r := telemetry.Request{App: i.App, Route: i.Route, Method: i.Method, Status: i.Status,
		Duration: i.Duration, Cache: i.Cache, Error: i.Error}
	t.metrics.ObserveRequest(r)
	t.series.Observe(r)
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

// watchTelemetry registers the collectors that read the node's parts at each
// scrape.
func (n *Node) watchTelemetry() error {
	if n.cache != nil {
		if err := n.tel.metrics.WatchCache(n.cache.Stats); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if err := n.tel.metrics.WatchInstances(n.instanceSamples); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if n.checks != nil {
		if err := n.tel.metrics.WatchChecks(n.checkSamples); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if err := n.tel.metrics.WatchCluster(n.clusterSample); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// clusterSample is the control plane and the view of the other nodes for
// the metrics. The admin API, which serves them, starts after the cluster
// is open.
func (n *Node) clusterSample() telemetry.ClusterSample {
	s := telemetry.ClusterSample{Nodes: map[string]int{}}
	if n.cl.view == nil {
		return s
	}
	h := n.cl.c.Health()
	s.Quorum, s.Leader = h.Quorum, h.Leader == n.st.Cluster.Node
	v := n.cl.view.View()
	s.Synced = v.Synced
	for _, nv := range v.Nodes {
		s.Nodes[nv.Info.Zone]++
	}
	return s
}

// checkSamples lists the uptime checks for the metrics.
func (n *Node) checkSamples() []telemetry.CheckSample {
	var out []telemetry.CheckSample
	for _, s := range n.checks.Status() {
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

// instanceSamples lists every app's instances for the metrics.
func (n *Node) instanceSamples() []telemetry.InstanceSample {
	var out []telemetry.InstanceSample
	for _, a := range n.apps {
		targets := make(map[string]balance.TargetStatus)
		for _, t := range a.pool.Targets() {
			targets[t.ID] = t
		}
		a.mu.Lock()
		instances := append([]*instance(nil), a.instances...)
		a.mu.Unlock()
		for _, in := range instances {
			p := in.proc.Status()
			t := targets[in.name]
			out = append(out, telemetry.InstanceSample{
				App: a.name, Instance: in.name,
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

// instanceName names the instance of app serving on addr, for the
// access log; "" when none does (any more).
func (n *Node) instanceName(app, addr string) string {
	for _, a := range n.apps {
		if a.name != app {
			continue
		}
		a.mu.Lock()
		for _, in := range a.instances {
			if in.addr == addr {
				a.mu.Unlock()
				return in.name
			}
		}
		a.mu.Unlock()
		// Another node answered: name it by its target, node/<name>.
		for _, t := range a.pool.Targets() {
			if t.Remote && t.Addr == addr {
				return t.ID
			}
		}
	}
	return ""
}

// deployEnded counts a deploy or rollback that ended.
func (n *Node) deployEnded(app string, rec deploy.Record) {
	n.tel.metrics.DeployFinished(app, string(rec.Result), rec.Duration(time.Now()))
}

// jobRan counts a job run that ended, or firings skipped or missed.
func (n *Node) jobRan(job string, run cron.Run) {
	if run.Result == cron.ResultMissed {
		n.tel.metrics.JobMissed(job, run.Missed)
		return
	}
	n.tel.metrics.JobFinished(job, string(run.Result))
}
