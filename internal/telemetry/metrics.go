package telemetry

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// requestBuckets bound the request duration histogram, in seconds: fine
// enough below 10ms for the p95 of cache hits, up to the edge's default
// upstream timeout range.
var requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// deployBuckets bound the deploy duration histogram, in seconds.
var deployBuckets = []float64{5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// Request is one request the edge answered, as it reports it to its
// observer (RequestObserver) and Metrics and Series record it.
type Request struct {
	// App is the app the matched route sends to; "" when no route
	// matched, and for purges.
	App string
	// Route names the matched route by its host pattern and path prefix
	// ("/", "example.com/api"); "" when none matched. It never holds the
	// requested path, so it is safe as a metric label.
	Route string
	// Method is the request method as sent; the metrics normalise it.
	Method string
	// Path is the requested path without the query, for exclusions such
	// as an app's health check path.
	Path string
	// Status is the status answered (499 when the client left first).
	Status int
	// Bytes counts the response body bytes written.
	Bytes int64
	// Duration runs from the request's arrival to the end of the answer.
	Duration time.Duration
	// Upstream is the wait for the app's response headers; 0 when the app
	// was not asked or did not answer.
	Upstream time.Duration
	// Cache is what the cache did (an httpcache Outcome: hit, miss, stale,
	// revalidated, pass); "" when the route is not cached.
	Cache string
	// Error is the kind of error the edge answered by itself, as the
	// kind label of http_server_errors_total names it; "" when it did not.
	Error string
}

// errorKinds lists the kinds of error the edge answers by itself, as
// Request.Error and the errors counter name them.
const errorKinds = "no_route, no_instance, upstream_timeout, upstream_error, body_too_large, body_timeout, bad_body, body_store, client_closed, purge_*"

// Metrics is a node's Prometheus registry with the node's metrics in it.
// It owns its registry: the process-wide default one is never used, so
// two nodes in one process (tests) do not mix. The zero value is not
// usable; see NewMetrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	active   *prometheus.GaugeVec

	deploys        *prometheus.CounterVec
	deployDuration *prometheus.HistogramVec
	jobRuns        *prometheus.CounterVec
	jobMissed      *prometheus.CounterVec

	// The database's events; their series exist once WatchDatabase is
	// called, so that a stack without a database exports none.
	dbLeaderChanges *prometheus.CounterVec
	dbDemotions     *prometheus.CounterVec

	// series caches the children of one label set, so that the request
	// path looks them up in one map read rather than hashing label
	// values twice.
	series  sync.Map // requestKey -> *requestSeries
	actives sync.Map // app -> prometheus.Gauge
}

// requestKey is the label set of the request metrics.
type requestKey struct {
	app, route, method string
	class              int
}

// requestSeries are the children of one requestKey.
type requestSeries struct {
	duration prometheus.Observer
	requests prometheus.Counter
}

// NewMetrics returns a registry holding the Go runtime and process
// collectors and the node's request, deploy and job metrics.
func NewMetrics() *Metrics {
	reqLabels := []string{"app", "route", "method", "status_class"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Duration of HTTP requests answered by the edge, from arrival to the end of the response.",
			Buckets: requestBuckets,
		}, reqLabels),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_total",
			Help: "HTTP requests answered by the edge.",
		}, reqLabels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_errors_total",
			Help: "Requests the edge answered with an error of its own, by kind (" + errorKinds + ").",
		}, []string{"app", "kind"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "http_server_active_requests",
			Help: "Requests routed to an app and not answered yet.",
		}, []string{"app"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_deploys_total",
			Help: "Deploys and rollbacks that ended, by outcome (succeeded, rolled_back, failed, interrupted).",
		}, []string{"app", "outcome"}),
		deployDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tandem_deploy_duration_seconds",
			Help:    "Duration of deploys and rollbacks that ended, by outcome.",
			Buckets: deployBuckets,
		}, []string{"app", "outcome"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_job_runs_total",
			Help: "Job runs that ended or firings that were skipped, by outcome (ok, failed, timeout, skipped).",
		}, []string{"job", "outcome"}),
		jobMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_job_missed_total",
			Help: "Job firings missed (tandem was not running, or the clock jumped).",
		}, []string{"job"}),
		dbLeaderChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_db_leader_changes_total",
			Help: "Changes of the database's leader seen by this node's member, by kind (bootstrap, failover, switchover).",
		}, []string{"kind"}),
		dbDemotions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_db_demotions_total",
			Help: "Times this node's member, running as primary, gave its leader lease up: expired, not renewed in time, or found held by another member.",
		}, nil),
	}
	m.reg.MustRegister( // fixed, distinct names: cannot fail
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration, m.requests, m.errors, m.active,
		m.deploys, m.deployDuration, m.jobRuns, m.jobMissed,
		m.dbLeaderChanges, m.dbDemotions,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// register adds a collector of the node's state.
func (m *Metrics) register(c prometheus.Collector) error {
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}

// RequestStarted counts a request routed to app as active until
// RequestEnded.
func (m *Metrics) RequestStarted(app string) {
	m.activeGauge(app).Inc()
}

// activeGauge returns app's child of the active requests gauge.
func (m *Metrics) activeGauge(app string) prometheus.Gauge {
	if g, ok := m.actives.Load(app); ok {
		return g.(prometheus.Gauge)
	}
	g, _ := m.actives.LoadOrStore(app, m.active.WithLabelValues(app))
	return g.(prometheus.Gauge)
}

// ObserveRequest records an answered request in the request duration,
// request and error counters. Requests to leave out (an app's health
// checks) are the caller's to filter, as RequestObserver does.
func (m *Metrics) ObserveRequest(r Request) {
	class := statusClass(r.Status)
	k := requestKey{app: r.App, route: r.Route, method: methodLabel(r.Method), class: class}
	v, ok := m.series.Load(k)
	if !ok {
		labels := []string{k.app, k.route, k.method, statusClasses[class]}
		v, _ = m.series.LoadOrStore(k, &requestSeries{
			duration: m.duration.WithLabelValues(labels...),
			requests: m.requests.WithLabelValues(labels...),
		})
	}
	s := v.(*requestSeries)
	s.duration.Observe(r.Duration.Seconds())
	s.requests.Inc()
	if r.Error != "" {
		m.errors.WithLabelValues(r.App, r.Error).Inc()
	}
}

// RequestEnded ends a request counted by RequestStarted.
func (m *Metrics) RequestEnded(app string) {
	m.activeGauge(app).Dec()
}

// DeployFinished records a deploy or rollback of app that ended with
// outcome ("succeeded", "rolled back", ...) after d.
func (m *Metrics) DeployFinished(app, outcome string, d time.Duration) {
	outcome = strings.ReplaceAll(outcome, " ", "_")
	m.deploys.WithLabelValues(app, outcome).Inc()
	m.deployDuration.WithLabelValues(app, outcome).Observe(d.Seconds())
}

// JobFinished records a run of job that ended, or a firing skipped, with
// outcome (ok, failed, timeout, skipped).
func (m *Metrics) JobFinished(job, outcome string) {
	m.jobRuns.WithLabelValues(job, outcome).Inc()
}

// JobMissed records n missed firings of job; n = 0 makes the series
// exist, so that alerts on its increase work from the start.
func (m *Metrics) JobMissed(job string, n int) {
	m.jobMissed.WithLabelValues(job).Add(float64(n))
}
