package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReplicationSample is the replication of one app's bucket at a scrape.
type ReplicationSample struct {
	App string
	// Pending is how many changes of the store are not in the replica
	// yet; Lag is the age of the oldest of them, in seconds.
	Pending int
	Lag     float64
	// Copied, Deleted and Failed count the replication's writes.
	Copied, Deleted, Failed uint64
	// StoreUp and ReplicaUp are whether each store answered the last
	// poll.
	StoreUp, ReplicaUp bool
}

// replicationLagBuckets span a poll that keeps up (a second or two) to
// an outage of minutes.
var replicationLagBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800}

// Replication exports object storage's replication: a histogram of each
// change's lag (Observe), and what list returns at each scrape.
type Replication struct {
	lag *prometheus.HistogramVec
}

// WatchReplication registers the replication's metrics.
func (m *Metrics) WatchReplication(list func() []ReplicationSample) (*Replication, error) {
	r := &Replication{lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tandem_storage_replication_lag_seconds",
		Help:    "Time from a change of an object in the store (its write or delete) to its copy in the replica.",
		Buckets: replicationLagBuckets,
	}, []string{"app"})}
	if err := m.register(r.lag); err != nil {
		return nil, err
	}
	if err := m.register(&replicationCollector{list: list}); err != nil {
		return nil, err
	}
	return r, nil
}

// Observe records the lag of one change that reached the replica.
func (r *Replication) Observe(app string, lag time.Duration) {
	r.lag.WithLabelValues(app).Observe(lag.Seconds())
}

var (
	replPendingDesc = desc("tandem_storage_replication_pending", "Changes of the store not yet in the replica.", "app")
	replBehindDesc  = desc("tandem_storage_replication_behind_seconds", "Age of the oldest change not yet in the replica; 0 when it is up to date.", "app")
	replWritesDesc  = desc("tandem_storage_replication_writes_total", "Replication's writes to the replica, by kind (copied, deleted, failed).", "app", "kind")
	replUpDesc      = desc("tandem_storage_up", "1 when the store answered the replication's last poll, by side (store, replica).", "app", "side")
)

type replicationCollector struct{ list func() []ReplicationSample }

func (c *replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replPendingDesc, replBehindDesc, replWritesDesc, replUpDesc} {
		ch <- d
	}
}

func (c *replicationCollector) Collect(ch chan<- prometheus.Metric) {
	up := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range c.list() {
		ch <- prometheus.MustNewConstMetric(replPendingDesc, prometheus.GaugeValue, float64(s.Pending), s.App)
		ch <- prometheus.MustNewConstMetric(replBehindDesc, prometheus.GaugeValue, s.Lag, s.App)
		ch <- prometheus.MustNewConstMetric(replWritesDesc, prometheus.CounterValue, float64(s.Copied), s.App, "copied")
		ch <- prometheus.MustNewConstMetric(replWritesDesc, prometheus.CounterValue, float64(s.Deleted), s.App, "deleted")
		ch <- prometheus.MustNewConstMetric(replWritesDesc, prometheus.CounterValue, float64(s.Failed), s.App, "failed")
		ch <- prometheus.MustNewConstMetric(replUpDesc, prometheus.GaugeValue, up(s.StoreUp), s.App, "store")
		ch <- prometheus.MustNewConstMetric(replUpDesc, prometheus.GaugeValue, up(s.ReplicaUp), s.App, "replica")
	}
}
