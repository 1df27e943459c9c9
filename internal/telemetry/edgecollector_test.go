package telemetry

import (
	"strings"
	"testing"
)

// TestEdgeExposition: the edge's connections and request bodies are read
// at each scrape, gauges and counters under their names.
func TestEdgeExposition(t *testing.T) {
	m := NewMetrics()
	sample := EdgeSample{Connections: 12, ConnectionsMax: 500, LimitReached: 3, IdleClosed: 2, AcceptErrors: 1,
		BodyMemory: 65536, BodyDisk: 1 << 20, BodiesSpilled: 4, BodiesRefused: 5}
	if err := m.WatchEdge(func() EdgeSample { return sample }); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	for _, want := range []string{
		"# TYPE tandem_edge_connections gauge",
		"tandem_edge_connections 12",
		"tandem_edge_connections_max 500",
		"# TYPE tandem_edge_connections_limit_reached_total counter",
		"tandem_edge_connections_limit_reached_total 3",
		"tandem_edge_connections_idle_closed_total 2",
		"tandem_edge_accept_errors_total 1",
		`tandem_edge_body_bytes{tier="memory"} 65536`,
		`tandem_edge_body_bytes{tier="disk"} 1.048576e+06`,
		"tandem_edge_bodies_spilled_total 4",
		"tandem_edge_bodies_refused_total 5",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	sample.Connections = 7
	if text := scrape(t, m); !strings.Contains(text, "tandem_edge_connections 7\n") {
		t.Error("a second scrape did not read the edge again: tandem_edge_connections is not 7")
	}
	if err := m.WatchEdge(func() EdgeSample { return EdgeSample{} }); err == nil {
		t.Error("a second edge collector was registered; want an error")
	}
}
