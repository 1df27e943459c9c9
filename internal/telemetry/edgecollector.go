package telemetry

import "github.com/prometheus/client_golang/prometheus"

// EdgeSample is the edge's client connections and the request bodies it
// holds, at a scrape.
type EdgeSample struct {
	// Connections is the client connections open now; ConnectionsMax
	// the most that may be open at once.
	Connections, ConnectionsMax int
	// LimitReached counts connections accepted with every slot taken.
	LimitReached uint64
	// IdleClosed counts idle keep-alive connections closed to make room.
	IdleClosed uint64
	// AcceptErrors counts accepts that failed for lack of descriptors.
	AcceptErrors uint64
	// BodyMemory and BodyDisk are the bytes of request bodies held now,
	// in memory and in temp files.
	BodyMemory, BodyDisk int64
	// BodiesSpilled counts request bodies that went to a temp file.
	BodiesSpilled uint64
	// BodiesRefused counts requests answered 507: no room for the body.
	BodiesRefused uint64
}

// WatchEdge exports the edge's connection and request body counters,
// read from sample at each scrape.
func (m *Metrics) WatchEdge(sample func() EdgeSample) error {
	return m.register(&edgeCollector{sample: sample})
}

type edgeCollector struct {
	sample func() EdgeSample
}

var (
	edgeConnsDesc        = desc("tandem_edge_connections", "Client connections open at the edge, on all its listeners.")
	edgeConnsMaxDesc     = desc("tandem_edge_connections_max", "The most client connections the edge keeps open at once (edge.limits.max_connections).")
	edgeLimitReachedDesc = desc("tandem_edge_connections_limit_reached_total", "Client connections accepted with every slot taken: each closed an idle connection or waited for one to close.")
	edgeIdleClosedDesc   = desc("tandem_edge_connections_idle_closed_total", "Idle keep-alive client connections closed to make room for new ones.")
	edgeAcceptErrsDesc   = desc("tandem_edge_accept_errors_total", "Accepts that failed for lack of file descriptors (EMFILE, ENFILE): the connection limit is above what the process may open.")
	edgeBodyBytesDesc    = desc("tandem_edge_body_bytes", "Bytes of request bodies the edge holds before their app gets them, by tier (memory, disk).", "tier")
	edgeSpilledDesc      = desc("tandem_edge_bodies_spilled_total", "Request bodies held in a temp file: larger than edge.limits.body_buffer, or memory was short.")
	edgeRefusedDesc      = desc("tandem_edge_bodies_refused_total", "Requests answered 507: no room to hold their body within edge.limits.body_disk.")
)

func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{edgeConnsDesc, edgeConnsMaxDesc, edgeLimitReachedDesc, edgeIdleClosedDesc,
		edgeAcceptErrsDesc, edgeBodyBytesDesc, edgeSpilledDesc, edgeRefusedDesc} {
		ch <- d
	}
}

func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sample()
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	metric(edgeConnsDesc, prometheus.GaugeValue, float64(s.Connections))
	metric(edgeConnsMaxDesc, prometheus.GaugeValue, float64(s.ConnectionsMax))
	metric(edgeLimitReachedDesc, prometheus.CounterValue, float64(s.LimitReached))
	metric(edgeIdleClosedDesc, prometheus.CounterValue, float64(s.IdleClosed))
	metric(edgeAcceptErrsDesc, prometheus.CounterValue, float64(s.AcceptErrors))
	metric(edgeBodyBytesDesc, prometheus.GaugeValue, float64(s.BodyMemory), "memory")
	metric(edgeBodyBytesDesc, prometheus.GaugeValue, float64(s.BodyDisk), "disk")
	metric(edgeSpilledDesc, prometheus.CounterValue, float64(s.BodiesSpilled))
	metric(edgeRefusedDesc, prometheus.CounterValue, float64(s.BodiesRefused))
}
