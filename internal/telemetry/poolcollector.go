package telemetry

import "github.com/prometheus/client_golang/prometheus"

// PoolSample is one app's balancer counters at a scrape.
type PoolSample struct {
	App string
	// Hedges counts tries made because no try answered within the
	// per-try timeout; HedgeWins those whose response was used.
	Hedges, HedgeWins uint64
	// LocalErrors counts tries and health checks that failed for lack of
	// this host's resources (descriptors, ports, buffers).
	LocalErrors uint64
	// PerTryTimeout is the per-try timeout in seconds now; 0 when hedging
	// is off.
	PerTryTimeout float64
}

// WatchPools exports every app's balancer counters, read from list at
// each scrape.
func (m *Metrics) WatchPools(list func() []PoolSample) error {
	return m.register(&poolCollector{list: list})
}

type poolCollector struct {
	list func() []PoolSample
}

var (
	poolHedgesDesc    = desc("tandem_upstream_hedges_total", "Hedged tries: a second instance asked because the first had not answered within the per-try timeout.", "app")
	poolHedgeWinsDesc = desc("tandem_upstream_hedge_wins_total", "Hedged tries whose response was the one used.", "app")
	poolLocalDesc     = desc("tandem_upstream_local_errors_total", "Tries and health checks that failed for lack of this host's resources (EMFILE, ENFILE, ENOBUFS, EADDRNOTAVAIL); never counted against an instance.", "app")
	poolPerTryDesc    = desc("tandem_upstream_per_try_timeout_seconds", "The per-try timeout after which an idempotent request is hedged, derived from the app's recent latency; 0 when hedging is off.", "app")
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolHedgesDesc, poolHedgeWinsDesc, poolLocalDesc, poolPerTryDesc} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.list() {
		ch <- prometheus.MustNewConstMetric(poolHedgesDesc, prometheus.CounterValue, float64(s.Hedges), s.App)
		ch <- prometheus.MustNewConstMetric(poolHedgeWinsDesc, prometheus.CounterValue, float64(s.HedgeWins), s.App)
		ch <- prometheus.MustNewConstMetric(poolLocalDesc, prometheus.CounterValue, float64(s.LocalErrors), s.App)
		ch <- prometheus.MustNewConstMetric(poolPerTryDesc, prometheus.GaugeValue, s.PerTryTimeout, s.App)
	}
}
