package telemetry

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// The collectors here read a part's own counters when Prometheus
// scrapes, rather than being fed on every event: the parts already keep
// the numbers, and a scrape every few seconds costs less than updating
// metrics on the request path.

// WatchCache exports the cache's counters, read from stats at each
// scrape.
func (m *Metrics) WatchCache(stats func() httpcache.Stats) error {
	return m.register(&cacheCollector{stats: stats})
}

// InstanceSample is one app instance as the node sees it at a scrape.
type InstanceSample struct {
	App, Instance string
	// Up is true while the balancer's health checks pass.
	Up       bool
	Restarts int    // process restarts since it was started
	OOMKills int    // of those, kills by the kernel's OOM killer
	Attempts uint64 // requests the balancer sent it, retries included
	Failures uint64 // of those, the ones that failed or answered 5xx
	InFlight int64  // requests sent whose response is not finished
}

// WatchInstances exports the instances list returns at each scrape.
func (m *Metrics) WatchInstances(list func() []InstanceSample) error {
	return m.register(&instanceCollector{list: list})
}

// desc is a short form of prometheus.NewDesc for metrics without
// constant labels.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

type cacheCollector struct {
	stats func() httpcache.Stats
}

var (
	cacheRequestsDesc = desc("tandem_cache_requests_total",
		"Requests through the cache by how they were answered: hit (fresh from storage), stale (served stale, including on an origin error), miss (nothing stored), coalesced (waited for another request's fetch), pass (not cacheable). An expired response fetched again counts under tandem_cache_revalidations_total only.", "status")
	cacheRevalidationsDesc = desc("tandem_cache_revalidations_total", "Conditional requests sent to the app for stored responses.")
	cacheNotModifiedDesc   = desc("tandem_cache_revalidations_not_modified_total", "Revalidations the app answered 304 Not Modified.")
	cacheStoresDesc        = desc("tandem_cache_stores_total", "Responses stored.")
	cacheEvictionsDesc     = desc("tandem_cache_evictions_total", "Stored responses evicted for space.")
	cachePurgesDesc        = desc("tandem_cache_purges_total", "Purge events applied, by kind (url, tag, ban, all).", "kind")
	cachePurgedDesc        = desc("tandem_cache_purged_objects_total", "Stored responses removed or marked stale by purges.")
	cacheInvalidDesc       = desc("tandem_cache_invalidations_total", "URLs invalidated by unsafe requests (POST, PUT, DELETE...).")
	cacheDiskErrorsDesc    = desc("tandem_cache_disk_errors_total", "Disk tier failures; each turns the tier off.")
	cacheBytesDesc         = desc("tandem_cache_bytes", "Bytes stored, by tier.", "tier")
	cacheObjectsDesc       = desc("tandem_cache_objects", "Keys stored, by tier.", "tier")
	cacheDiskOffDesc       = desc("tandem_cache_disk_disabled", "1 when the disk tier is off after an error.")
	cacheDiskLowDesc       = desc("tandem_cache_disk_low", "1 while the disk tier's filesystem is below the free space it leaves: it stores nothing new.")
	cacheBansDesc          = desc("tandem_cache_bans", "Bans not yet checked against every stored response.")
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheRequestsDesc, cacheRevalidationsDesc, cacheNotModifiedDesc, cacheStoresDesc,
		cacheEvictionsDesc, cachePurgesDesc, cachePurgedDesc, cacheInvalidDesc, cacheDiskErrorsDesc, cacheBytesDesc,
		cacheObjectsDesc, cacheDiskOffDesc, cacheDiskLowDesc, cacheBansDesc} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(cacheRequestsDesc, s.Hits-s.StaleHits, "hit")
	counter(cacheRequestsDesc, s.StaleServed, "stale")
	counter(cacheRequestsDesc, s.Misses, "miss")
	counter(cacheRequestsDesc, s.Coalesced, "coalesced")
	counter(cacheRequestsDesc, s.Passes, "pass")
	counter(cacheRevalidationsDesc, s.Revalidations)
	counter(cacheNotModifiedDesc, s.NotModified)
	counter(cacheStoresDesc, s.Stores)
	counter(cacheEvictionsDesc, s.Evictions)
	for _, k := range slices.Sorted(maps.Keys(s.PurgesByKind)) {
		counter(cachePurgesDesc, s.PurgesByKind[k], string(k))
	}
	counter(cachePurgedDesc, s.Purged)
	counter(cacheInvalidDesc, s.Invalidations)
	counter(cacheDiskErrorsDesc, s.DiskErrors)
	gauge(cacheBytesDesc, s.MemoryBytes, "memory")
	gauge(cacheBytesDesc, s.DiskBytes, "disk")
	gauge(cacheObjectsDesc, s.MemoryItems, "memory")
	gauge(cacheObjectsDesc, s.DiskItems, "disk")
	gauge(cacheDiskOffDesc, int64(b2f(s.DiskDisabled)))
	gauge(cacheDiskLowDesc, int64(b2f(s.DiskLow)))
	gauge(cacheBansDesc, int64(s.Bans))
}

type instanceCollector struct {
	list func() []InstanceSample
}

var (
	instanceUpDesc       = desc("tandem_instance_up", "1 while the instance passes its health checks, else 0.", "app", "instance")
	instanceRestartsDesc = desc("tandem_instance_restarts_total", "Restarts of the instance's process.", "app", "instance")
	instanceOOMDesc      = desc("tandem_instance_oom_kills_total", "Kills of the instance's process by the OOM killer.", "app", "instance")
	upstreamAttemptsDesc = desc("tandem_upstream_attempts_total", "Requests sent to the instance by the balancer, retries included.", "app", "instance")
	upstreamFailuresDesc = desc("tandem_upstream_failures_total", "Requests sent to the instance that failed or answered 5xx.", "app", "instance")
	upstreamInFlightDesc = desc("tandem_upstream_in_flight", "Requests sent to the instance whose response is not finished.", "app", "instance")
)

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{instanceUpDesc, instanceRestartsDesc, instanceOOMDesc,
		upstreamAttemptsDesc, upstreamFailuresDesc, upstreamInFlightDesc} {
		ch <- d
	}
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c.list() {
		metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, in.App, in.Instance)
		}
		metric(instanceUpDesc, prometheus.GaugeValue, b2f(in.Up))
		metric(instanceRestartsDesc, prometheus.CounterValue, float64(in.Restarts))
		metric(instanceOOMDesc, prometheus.CounterValue, float64(in.OOMKills))
		metric(upstreamAttemptsDesc, prometheus.CounterValue, float64(in.Attempts))
		metric(upstreamFailuresDesc, prometheus.CounterValue, float64(in.Failures))
		metric(upstreamInFlightDesc, prometheus.GaugeValue, float64(in.InFlight))
	}
}
